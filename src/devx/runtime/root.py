"""open_root_actor: make this process the root of an actor tree."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..core import events, hooks, settings
from ..core import schema as events_schema
from . import forkserver, spawn_methods
from . import log as runtime_log
from .actor import Actor, check_actor_name, current_actor
from .errors import as_user_quit, collapse, has_user_quit, strip_cancelled
from .interrupt import InterruptGuard, first_interrupt, only_interrupts
from .msgs import ActorID, Lineage, RuntimeConfig


@asynccontextmanager
async def open_root_actor(
    name: str = "root",
    *,
    debug_mode: bool = False,
    loglevel: str | None = None,
    enable_modules: list[str] | None = None,
    enable_stack_on_sig: bool = False,
    maybe_enable_greenback: bool = False,
    telemetry: str | None = None,
    transport: str = "tcp",
    spawn_method: str | None = None,
) -> AsyncIterator[Actor]:
    """Boot the root actor of a new tree in this process (inside ``trio.run``).

    ``debug_mode`` turns on the multi-process debugger for the tree (inherited by
    children); ``telemetry`` is the embedded telemetry file path (``"off"`` to
    disable); ``transport`` is ``"tcp"`` (loopback) or ``"uds"``; ``spawn_method``
    is how the tree starts its actors: ``"subprocess"`` or ``"forkserver"`` (forked
    from a pre-imported zygote, Linux), default ``$DEVX_SPAWN_METHOD`` or subprocess.
    """
    if current_actor(err_on_no_runtime=False) is not None:
        raise RuntimeError("a devx actor runtime is already running in this process")
    check_actor_name(name)
    # the tree's settings, once: a bad value is refused here, naming the variable
    settings.install(settings.resolve())
    try:
        method = spawn_methods.resolve_method(spawn_method)
    except BaseException:
        settings.install(None)
        raise
    uid = ActorID(name, uuid.uuid4().hex)
    lineage = Lineage(
        uid=uid, parent_uid=None, root_uid=uid, path=name, pid=os.getpid(), parent_pid=os.getppid()
    )
    runtime_log.setup(loglevel, events_schema.lineage_attrs(lineage))
    config = RuntimeConfig(
        debug_mode=debug_mode,
        debug_tree=debug_mode,
        loglevel=loglevel,
        enable_stack_on_sig=enable_stack_on_sig,
        maybe_enable_greenback=maybe_enable_greenback,
        telemetry=telemetry,
        hooks=hooks.registered(),
    )
    actor = Actor(
        lineage=lineage,
        config=config,
        secret=secrets.token_urlsafe(32),
        enable_modules=list(enable_modules or []),
        is_root=True,
        transport=transport,
    )
    # the zygote boots (imports) while the root sets itself up
    zygote = await forkserver.launch(actor.secret) if method == "forkserver" else None
    guard = InterruptGuard().install()  # one ctrl-c stops the tree, a storm too
    try:
        async with actor.running():
            await actor.ensure_listener()
            if zygote is not None:
                await forkserver.serve_root(actor, zygote)  # the actor's from now on
                zygote = None
            try:
                yield actor
            except BaseException as exc:
                err = strip_cancelled(exc)  # a cancellation is never a crash
                if err is not None and not isinstance(err, (KeyboardInterrupt, GeneratorExit)):
                    if not has_user_quit(err):
                        events.exception(err, **actor.lineage_attrs())  # when raised
                        err = await actor.run_crash_hooks(err)
                    if has_user_quit(err):  # the user quit a REPL: one quit, its errors
                        raise as_user_quit(err, actor.path) from None
                raise
    except BaseExceptionGroup as eg:
        if only_interrupts(eg):  # several tasks saw the one ctrl-c: one interrupt
            raise first_interrupt(eg) from None
        raise collapse(eg) from None
    finally:
        if zygote is not None:  # the actor failed to start
            await forkserver.discard(zygote)
        guard.restore()
        settings.install(None)
