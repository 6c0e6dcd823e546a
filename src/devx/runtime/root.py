"""open_root_actor: make this process the root of an actor tree."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from ..core import events, hooks, settings, tb_text
from ..core import schema as events_schema
from ..core.levels import level_number
from . import log as runtime_log
from . import registry, spawn_methods, tree_secret
from .actor import Actor, check_actor_name, current_actor
from .errors import (
    ChannelClosed,
    UserQuit,
    as_user_quit,
    collapse,
    has_user_quit,
    strip_cancelled,
)
from .interrupt import InterruptGuard, first_interrupt, only_interrupts
from .ipc import Addr
from .msgs import ActorID, Lineage, RuntimeConfig
from .root_term import RootTerm

log = logging.getLogger("devx.runtime")

PROBE_TIMEOUT = 1.0  # for a registrar to accept a connection before we hold the registry


def one_transport(transports: Any) -> str:
    """The peer's ``enable_transports`` as devx's ``transport``: a tree runs one."""
    if isinstance(transports, str):
        transports = [transports]
    if not isinstance(transports, (list, tuple)) or len(transports) != 1:
        raise ValueError(
            f"enable_transports={transports!r}: devx runs one transport per tree; "
            'pass a single one, e.g. enable_transports=["uds"] (or transport="uds")'
        )
    return str(transports[0])


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
    registry_addrs: list[tuple[str, int]] | list[Addr] | None = None,
    listen_addr: tuple[str, int] | str | None = None,
    attach: bool = False,
    tpt_bind_addrs: list[Any] | None = None,
    enable_transports: list[str] | str | None = None,
    hide_tb: bool = True,
    start_method: str | None = None,
    rpc_module_paths: list[str] | None = None,
) -> AsyncIterator[Actor]:
    """Boot the root actor of a new tree in this process (inside ``trio.run``).

    ``debug_mode`` turns on the multi-process debugger for the tree (inherited by
    children); ``telemetry`` is the embedded telemetry file path (``"off"`` to
    disable); ``transport`` is ``"tcp"`` (loopback) or ``"uds"``; ``spawn_method``
    is how the tree starts its actors: ``"subprocess"`` or ``"forkserver"`` (forked
    from a pre-imported zygote, Linux), default ``$DEVX_SPAWN_METHOD``, else the fork
    server on Linux and subprocesses elsewhere.

    Discovery: without ``registry_addrs`` this root is its tree's registrar. With
    them the tree registers at the first that answers; when none does, this root
    becomes the registrar on the first address. ``listen_addr``: the host (or
    ``(host, port)``) every actor of the tree listens on, loopback by default; give
    one other trees can reach to be found from another host. Trees that call each
    other share ``DEVX_TREE_SECRET`` (or ``DEVX_TREE_SECRET_FILE``).

    ``attach=True`` (or ``DEVX_ATTACH=1``): without a terminal, each REPL waits for
    ``devx attach`` instead of being skipped.

    ``tpt_bind_addrs=[(host, port)]`` is the peer project's spelling of ``listen_addr``
    (one TCP address: the tree listens on one), ``enable_transports=["uds"]`` of
    ``transport="uds"`` (one transport), ``start_method`` of ``spawn_method``
    (``"trio"`` and ``"mp_spawn"``: subprocesses; ``"mp_forkserver"``: the fork
    server); ``hide_tb`` (the peer's option, default True) hides this function's frame
    from pdbp's and pytest's tracebacks; ``rpc_module_paths`` is its deprecated name for
    ``enable_modules`` (a ``DeprecationWarning``, as there).
    """
    __tracebackhide__ = hide_tb
    spawn_method = spawn_methods.from_start_method(start_method, spawn_method)
    if rpc_module_paths:
        from .nursery import with_old_module_paths

        enable_modules = with_old_module_paths(enable_modules, rpc_module_paths, stacklevel=4)
    if enable_transports is not None:
        transport = one_transport(enable_transports)
    if current_actor(err_on_no_runtime=False) is not None:
        raise RuntimeError("a devx actor runtime is already running in this process")
    check_actor_name(name)
    # the tree's settings, once: a bad value is refused here, naming the variable
    resolved = settings.resolve()
    if attach:  # REPLs without a terminal wait for `devx attach` (DEVX_ATTACH=1)
        resolved = msgspec.structs.replace(resolved, attach=True)
    settings.install(resolved)
    try:
        if loglevel:
            level_number(loglevel)  # an unknown name is refused here, naming it
        method = spawn_methods.resolve_method(spawn_method)
        secret = tree_secret.resolve(settings.current())
        reg_addrs = [_addr(a) for a in registry_addrs] if registry_addrs is not None else None
        host, port = _listen(bind_to_listen(tpt_bind_addrs, listen_addr))
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
        secret=secret,
        enable_modules=list(enable_modules or []),
        is_root=True,
        transport=transport,
        registry_addrs=reg_addrs,
        listen_host=host,
    )
    actor.listen_port = port
    # the zygote starts on the first spawn; with open_nursery's root, at once: it
    # boots (imports) while the root sets itself up. A subprocess tree never loads
    # the fork server's module
    if method == "forkserver":
        from . import forkserver
    early = method == "forkserver" and spawn_methods.SPAWNS_SOON.get()
    started = spawn_methods.EARLY_ZYGOTE.get()  # open_nursery's, when it started one
    zygote = await forkserver.launch(actor.secret, started) if early else None
    guard = InterruptGuard().install()  # one ctrl-c stops the tree, a storm too
    # SIGTERM (left at its default by the program): the tree ends as on a cancel,
    # telemetry written, then the process dies of the signal (root_term)
    term = RootTerm.install(actor.path, actor.cancel, actor.kill_children, actor.term_children)
    try:
        async with actor.running():
            await _setup_registry(actor, reg_addrs, listen_addr)
            if zygote is not None:
                await forkserver.serve_root(actor, zygote)  # the actor's from now on
                zygote = None
            elif method == "forkserver":
                forkserver.start_on_first_spawn(actor)
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
        if actor.quit_by:  # a quit that ended another tree's call (Actor.end_by_quit)
            raise UserQuit(actor.quit_by)
    except BaseExceptionGroup as eg:
        if only_interrupts(eg):  # several tasks saw the one ctrl-c: one interrupt
            raise first_interrupt(eg) from None
        # the tree's error(s) without the Cancelled of a scope of the user's whose
        # deadline fired during the teardown (trio's scope would take those out and
        # leave the error wrapped in this actor's own nurseries' groups): what the
        # block raises with no deadline
        raise tb_text.drop_task_shims(strip_cancelled(eg) or collapse(eg)) from None
    finally:
        if zygote is not None:  # the actor failed to start
            await forkserver.discard(zygote)
        loaded = sys.modules.get(spawn_methods.FORKSERVER_MODULE)
        if loaded is not None:
            loaded.end_root()
        guard.restore()
        settings.install(None)
        if term is not None:
            term.restore()  # when a SIGTERM ended the tree, the process dies of it here


def _addr(addr: object) -> Addr:
    if isinstance(addr, str):
        return addr
    if isinstance(addr, (tuple, list)) and len(addr) == 2:
        port = int(addr[1])
        if not 0 <= port <= 65535:  # (the resolver would take 99999 as 34463, silently)
            raise ValueError(f"address {addr!r}: the port must be 0 to 65535")
        return (str(addr[0]), port)
    raise ValueError(f"registry address {addr!r}: expected (host, port) or a socket path")


WILDCARDS = frozenset(("", "0.0.0.0", "::"))


def bind_to_listen(
    tpt_bind_addrs: list[Any] | None, listen_addr: tuple[str, int] | str | None
) -> tuple[str, int] | str | None:
    """The peer's ``tpt_bind_addrs`` as devx's ``listen_addr``: one ``(host, port)``;
    anything else is refused saying what a tree listens on."""
    if tpt_bind_addrs is None:
        return listen_addr
    addrs = list(tpt_bind_addrs)
    one = addrs[0] if len(addrs) == 1 else None
    if listen_addr is not None or not (
        isinstance(one, (tuple, list))
        and len(one) == 2
        and isinstance(one[0], str)
        and isinstance(one[1], int)
    ):
        raise ValueError(
            f"tpt_bind_addrs={tpt_bind_addrs!r}"
            + (f" with listen_addr={listen_addr!r}" if listen_addr is not None else "")
            + ": a devx tree listens on one TCP address, given as listen_addr=(host, port) "
            "or tpt_bind_addrs=[(host, port)]; several addresses, Unix socket paths and "
            "multiaddr strings are not supported (transport='uds' for a Unix socket)"
        )
    return (one[0], one[1])


def _listen(listen_addr: tuple[str, int] | str | None) -> tuple[str, int]:
    if listen_addr is None:
        return "127.0.0.1", 0
    if isinstance(listen_addr, str):
        addr: Addr = (listen_addr, 0)
    else:
        addr = _addr(listen_addr)
    assert not isinstance(addr, str)
    if addr[0] in WILDCARDS:
        raise ValueError(
            f"listen_addr={listen_addr!r}: a wildcard cannot be reached by other trees, yet "
            "it is the address every actor advertises to the registrar; give the address "
            "the other hosts use for this one (e.g. its WireGuard interface's, 10.0.0.2)"
        )
    return addr


async def _setup_registry(actor: Actor, addrs: list[Addr] | None, listen: object) -> None:
    """Listen, decide whether this root holds the registry, and register."""
    if addrs is None:
        actor.become_registrar()
        actor.registry_addrs = [await actor.ensure_listener()]
    else:
        mine = _addr(listen) if isinstance(listen, tuple) else None
        if mine is not None and mine in addrs:
            actor.become_registrar()  # told to hold it: a bind failure is an error
        elif listen is None and addrs and not await _answers(actor, addrs):
            await _try_hold(actor, addrs[0])
        await actor.ensure_listener()
    await actor.start_service(registry.keep_registered, actor)
    actor.registry_settled.set()  # (registered: a count of the tree includes its root)
    actor.registry_known.set()


async def _answers(actor: Actor, addrs: list[Addr]) -> bool:
    """Whether something accepts a connection at any of ``addrs`` (a full hello, so
    that a registrar there sees a peer come and go, not a stranger; one that refuses
    our secret answers too)."""
    for addr in addrs:
        with trio.move_on_after(PROBE_TIMEOUT):
            try:
                chan = await actor.connect_to(addr)
            except ChannelClosed:
                return True
            except OSError:
                continue
            await chan.aclose()
            return True
    return False


async def _try_hold(actor: Actor, addr: Addr) -> None:
    """No registrar answers: become it, listening on ``addr`` (when that is ours to
    bind; else register in the background once one comes up)."""
    if isinstance(addr, str):
        return  # a socket path: devx registrar --listen makes those
    host, port = addr
    saved = actor.listen_host, actor.listen_port
    actor.listen_host, actor.listen_port = host, port
    try:
        await actor.ensure_listener()
    except OSError as exc:
        actor.listen_host, actor.listen_port = saved
        log.warning(
            "no registrar answers at %s:%d and this root cannot listen there (%s): it "
            "registers once one does",
            host,
            port,
            # (the listener's own reason, not its message for a listen_addr)
            getattr(exc.__cause__, "strerror", None) or exc.strerror or exc,
        )
        return
    actor.become_registrar()
