"""ActorNursery: spawn child actors, supervise them, tear them down.

Semantics, in trio's spirit:
- the block waits for every ``run_in_actor`` result, then cancels the remaining
  (``start_actor``) children: leaving the block never leaves a process behind;
- a failing ``run_in_actor`` child never cancels its ``run_in_actor`` siblings: each
  runs to its own end, so the errors of several failing one-shot children are all
  kept (the peer project's rule). Once no one-shot child is still running (booting
  or running its function), the failures cancel the block and the other children;
- an error in the block, a ``start_actor`` child dying on its own, or a user's quit
  from a REPL cancels every child at once: gracefully over IPC, then SIGTERM after a
  grace period, then SIGKILL;
- one error is raised as itself, several as a ``BaseExceptionGroup`` (in the order
  they happened).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import Token
from typing import TYPE_CHECKING, Any

import trio

from ..core import events, schema, settings
from ..core.levels import level_number
from .actor import Actor, check_actor_name, current_actor
from .boot_watch import MAX_SLOW_BOOTS, Progress
from .errors import (
    ActorBootError,
    ChannelClosed,
    ContextCancelled,
    UserQuit,
    collapse,
    is_user_quit,
    one_cancelled,
    safe_str,
    strip_cancelled,
    unbox_error,
)
from .ipc import Addr, encode
from .msgs import Error, Return, RuntimeConfig, SpawnSpec, Start, set_actor_vars
from .spawn import Spawner
from .spawn_methods import default_spawner, from_start_method

if TYPE_CHECKING:
    from .child_record import ChildRecord
    from .portal import Portal

# (.child_record, and the lifeline it imports, ~0.6 ms: loaded by the first spawn, not
# on open_nursery's way to the tree's first process, its spare or its zygote)

log = logging.getLogger("devx.runtime")


def _check_loglevel(name: str, loglevel: str | None) -> None:
    """A child's unknown ``loglevel=`` is refused at the call, before any spawn (the
    child would fail its boot on it, with an error that names neither)."""
    if loglevel:
        try:
            level_number(loglevel)
        except ValueError as exc:
            raise ValueError(f"{exc} (the loglevel= of actor {name!r})") from None


def _check_bind(name: str, bind_addrs: list[Any] | None) -> None:
    """The peer's per-child ``bind_addrs=``: a devx actor listens where its tree does."""
    if bind_addrs is not None:
        raise ValueError(
            f"bind_addrs={bind_addrs!r} for actor {name!r}: every actor of a devx tree "
            "listens on the tree's address; give it to the root instead "
            "(open_root_actor/open_nursery listen_addr=(host, port), or the peer's "
            "tpt_bind_addrs=[(host, port)])"
        )


def with_old_module_paths(
    enable_modules: list[str] | None, rpc_module_paths: list[str] | None, stacklevel: int = 3
) -> list[str] | None:
    """The peer's older name for ``enable_modules``, ``rpc_module_paths=``: still
    taken there with a ``DeprecationWarning``, so here too (added to the modules)."""
    if not rpc_module_paths:
        return enable_modules
    import warnings

    warnings.warn(
        "rpc_module_paths= is deprecated (as in the peer project): use enable_modules=",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return [*(enable_modules or []), *rpc_module_paths]


class ActorNursery:
    """Spawns and supervises child actors; see the module docstring for semantics."""

    def __init__(self, actor: Actor, tn: trio.Nursery, *, spawner: Spawner | None = None):
        self.actor = actor
        self._tn = tn
        self._spawner = spawner or default_spawner()
        self._children: dict[str, ChildRecord] = {}
        self.cancel_called = False  # this nursery cancelled (or is cancelling) its children
        self.errors: list[BaseException] = []
        self._failing = False  # the cancel for self.errors is under way

    @property
    def children(self) -> list[ChildRecord]:
        return list(self._children.values())

    async def start_actor(
        self,
        name: str,
        *,
        enable_modules: list[str] | None = None,
        debug_mode: bool | None = None,
        loglevel: str | None = None,
        inherit_parent_main: bool = True,
        infect_asyncio: bool = False,
        bind_addrs: list[Any] | None = None,
        rpc_module_paths: list[str] | None = None,
    ) -> Portal:
        """Spawn a child actor serving ``enable_modules``; returns its portal once ready.
        ``inherit_parent_main=False``: the child (and its own children) never load the
        root's script, even to serve functions of ``__main__``. ``infect_asyncio=True``:
        the child runs trio as a guest of an asyncio loop (:mod:`devx.to_asyncio`).
        ``rpc_module_paths``: the peer's deprecated name for ``enable_modules``."""
        enable_modules = with_old_module_paths(enable_modules, rpc_module_paths)
        _check_loglevel(name, loglevel)
        _check_bind(name, bind_addrs)
        rec = self._new_record(name, None)
        rec.inherit_main = inherit_parent_main
        rec.infect_asyncio = infect_asyncio
        portal: Portal = await self._tn.start(
            self._supervise, rec, enable_modules or [], debug_mode, loglevel
        )
        return portal

    async def run_in_actor(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        enable_modules: list[str] | None = None,
        debug_mode: bool | None = None,
        loglevel: str | None = None,
        inherit_parent_main: bool = True,
        infect_asyncio: bool = False,
        bind_addrs: list[Any] | None = None,
        rpc_module_paths: list[str] | None = None,
        **kwargs: Any,
    ) -> Portal:
        """Spawn a one-shot child that runs ``fn(**kwargs)``; ``await portal.result()``
        gets its return value. The child exits once ``fn`` returns.
        ``inherit_parent_main=False``, ``infect_asyncio=True`` and ``rpc_module_paths``
        as for :meth:`start_actor`."""
        from .portal import func_ref

        enable_modules = with_old_module_paths(enable_modules, rpc_module_paths)
        ref = func_ref(fn)
        _check_loglevel(name or ref[1], loglevel)
        _check_bind(name or ref[1], bind_addrs)
        if ref[0] == "__main__" and not inherit_parent_main:
            raise ValueError(
                f"run_in_actor({ref[1]}, inherit_parent_main=False): {ref[1]} is defined "
                "in the root's script, which such a child never loads; move it to a "
                "module, or leave inherit_parent_main at True"
            )
        try:
            encode(Start(cid=0, ns=ref[0], func=ref[1], kwargs=kwargs))
        except TypeError as exc:
            raise type(exc)(f"arguments of {ref[0]}.{ref[1]} cannot be sent: {exc}") from None
        rec = self._new_record(name or ref[1], ref)
        rec.kwargs = kwargs
        rec.inherit_main = inherit_parent_main
        rec.infect_asyncio = infect_asyncio
        modules = [*(enable_modules or []), ref[0]]
        portal: Portal = await self._tn.start(self._supervise, rec, modules, debug_mode, loglevel)
        return portal

    def _new_record(self, name: str, fn: tuple[str, str] | None) -> ChildRecord:
        if self.cancel_called:
            raise RuntimeError("this actor nursery was cancelled: it cannot spawn any more")
        check_actor_name(name)
        from .child_record import ChildRecord

        uid = uuid.uuid4().hex
        rec = ChildRecord(
            name,
            uid,
            f"{self.actor.path}/{name}",
            fn,
            before_escalate=self.actor.run_teardown_hooks,
        )
        self._children[uid] = rec
        return rec

    def _spec(
        self, rec: ChildRecord, modules: list[str], debug_mode: bool | None, loglevel: str | None
    ) -> SpawnSpec:
        actor = self.actor
        cfg = actor.config
        if debug_mode is not None or loglevel is not None:
            cfg = RuntimeConfig(
                debug_mode=cfg.debug_mode if debug_mode is None else debug_mode,
                debug_tree=cfg.debug_tree or bool(debug_mode),
                loglevel=cfg.loglevel if loglevel is None else loglevel,
                enable_stack_on_sig=cfg.enable_stack_on_sig,
                maybe_enable_greenback=cfg.maybe_enable_greenback,
                telemetry=cfg.telemetry,
                hooks=cfg.hooks,
                extra=cfg.extra,
            )
        assert actor.listen_addr is not None
        main_module, main_path = actor.main_ref if rec.inherit_main else (None, None)
        return SpawnSpec(
            name=rec.name,
            uuid=rec.uuid,
            parent_uid=actor.uid,
            root_uid=actor.root_uid,
            parent_path=actor.path,
            parent_addr=actor.listen_addr,
            root_addr=actor.root_addr or actor.listen_addr,
            secret=actor.secret,
            enable_modules=["__main__" if m == "__mp_main__" else m for m in modules],
            config=cfg,
            main_module=main_module,
            main_path=main_path,
            sys_path=list(sys.path),
            transport=actor.transport,
            trace_carrier=events.carrier(),
            parent_pid=os.getpid(),
            settings=settings.current(),
            registry_addrs=list(actor.registry_addrs),
            listen_host=actor.listen_host,
            infect_asyncio=rec.infect_asyncio,
        )

    def _env(self, spec: SpawnSpec) -> dict[str, str]:
        env = dict(os.environ)
        set_actor_vars(env, spec)
        return env

    async def _boot(
        self,
        rec: ChildRecord,
        modules: list[str],
        debug_mode: bool | None,
        loglevel: str | None,
        watch: trio.Nursery,
    ) -> Portal:
        """Spawn the process, wait for it to connect back and report ready (or die,
        or make no progress); a watcher task in ``watch`` records its exit. A bounded
        number boot at once (:mod:`.boot_watch`): the others wait their turn."""
        async with self.actor.boot_slots:
            return await self._boot_now(rec, modules, debug_mode, loglevel, watch)

    async def _boot_now(
        self,
        rec: ChildRecord,
        modules: list[str],
        debug_mode: bool | None,
        loglevel: str | None,
        watch: trio.Nursery,
    ) -> Portal:
        await self.actor.ensure_listener()
        spec = self._spec(rec, modules, debug_mode, loglevel)
        chan_recv = self.actor.expect_child(rec.uuid)
        try:
            # the child's channel: a socketpair, its end inherited at spawn
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                rec.proc = await self._spawner.spawn(spec, self._env(spec), theirs.fileno())
            except BaseException:
                mine.close()
                raise
            finally:
                theirs.close()
            self.actor.adopt_child_socket(mine, rec.uuid)
            watch.start_soon(self._watch, rec)
            self.actor.children.add(rec)
            self.actor.spawned.set()
            self.actor.kick_helpers.set()
            events.event(
                schema.ACTOR_SPAWN,
                **{schema.CHILD_PATH: rec.path, schema.CHILD_PID: rec.pid or -1},
            )

            # what only a ready child needs, loaded while it boots (a root's way to its
            # first spawn does not wait for it)
            from .portal import Portal

            progress = Progress(rec.pid, settings.current().boot_timeout)
            next_step = progress.step_or_exit  # its hello, then its ready (or its exit)
            rec.chan = await next_step(chan_recv.receive, rec.exited, rec.on_exit)
            if rec.chan is not None:
                await next_step(rec.chan.ready.wait, rec.exited, rec.on_exit)
        finally:
            self.actor.forget_child(rec.uuid)
        chan = rec.chan
        if chan is not None and chan.boot_error is not None:
            raise unbox_error(chan.boot_error)
        if chan is None or not chan.ready.is_set() or chan.closed:
            if progress.stalled or progress.too_long:
                step = "ready" if rec.chan is not None else "its hello"
                if progress.too_long:
                    why = f"kept computing for {MAX_SLOW_BOOTS} x {progress.timeout:g}s"
                else:
                    why = (
                        f"made no progress (no CPU time, no {step}) for {progress.timeout:g}s:"
                        " stuck (an import that waits for something?)"
                    )
                raise ActorBootError(
                    f"actor {rec.path!r} (pid {rec.pid}) was not ready: it {why} "
                    "(DEVX_BOOT_TIMEOUT)"
                )
            with trio.move_on_after(1):
                await rec.exited.wait()
            from .child_record import describe_exit

            raise ActorBootError(
                f"actor {rec.path!r} (pid {rec.pid}) failed to start: it "
                f"{describe_exit(rec.exit_code, rec.exit_unknown)} before it was ready"
            )
        rec.portal = Portal(chan, child=rec)
        return rec.portal

    @staticmethod
    async def _watch(rec: ChildRecord) -> None:
        assert rec.proc is not None
        await rec.proc.wait()
        rec._record_exit()

    async def _supervise(
        self,
        rec: ChildRecord,
        modules: list[str],
        debug_mode: bool | None,
        loglevel: str | None,
        task_status: trio.TaskStatus[Portal] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """One task per child: boot it, run its one-shot function or wait for it to
        exit, and always stop it (bounded) on the way out."""
        started = False
        try:
            async with trio.open_nursery() as watch:
                try:
                    portal = await self._boot(rec, modules, debug_mode, loglevel, watch)
                    task_status.started(portal)
                    started = True
                    if rec.fn is not None:
                        if await self._run_one_shot(rec, portal):
                            # as in the peer project, a one-shot child whose function
                            # returned is stopped when the block is left (or the
                            # nursery is cancelled), not at once: until then its actor
                            # serves calls (a sibling that finds it by name, as the
                            # peer's first example does, is not left waiting for an
                            # actor gone by)
                            await rec.exited.wait()
                    else:
                        await rec.exited.wait()
                        # exit code 0: its runtime ended cleanly (it cancelled itself,
                        # Actor.cancel_soon()); anything else is a death, an error, and
                        # so is a signal nobody here sent, even during a cancel
                        if rec.died_unasked() or (not rec.cancel_requested and rec.exit_code != 0):
                            raise rec.gone_error()
                finally:
                    try:
                        await rec.stop()
                    except BaseException:
                        rec.kill_now()
                        raise
                    watch.cancel_scope.cancel()
        except BaseException as exc:
            err = strip_cancelled(exc)
            if err is None and started and rec.died_unasked():
                # killed (by someone else) as the block ended or the nursery was
                # cancelled: a death nobody asked for is an error, never a cancel
                self._child_failed(rec.gone_error(), rec)
            if err is None:
                # cancelled: one trio.Cancelled (the watch nursery's tasks were each
                # cancelled too), as trio code expects of a cancelled start_actor()
                cancelled = one_cancelled(exc)
                if cancelled is exc:
                    raise
                raise cancelled from None
            if isinstance(err, KeyboardInterrupt):
                raise
            if not started:  # start_actor()/run_in_actor() raise it to their caller
                raise err from None
            self._child_failed(err, rec)
        finally:
            self.actor.children.discard(rec)
            # an exited child is forgotten (its portal keeps what callers need): a
            # long-lived nursery that spawns and stops children does not grow
            self._children.pop(rec.uuid, None)
            if rec.fn is not None:  # the last one-shot child to end lets the errors go
                self._fail_when_one_shots_done()

    def _child_failed(self, err: BaseException, rec: ChildRecord) -> None:
        """Record a child's failure. A one-shot child's failure waits for the one-shot
        siblings still running (their errors are wanted too); anything else (a
        ``start_actor`` child dying, a user's quit from a REPL) cancels at once."""
        self.errors.append(err)
        if rec.fn is None or is_user_quit(err):
            self._fail_soon()
        else:
            self._fail_when_one_shots_done()

    def _one_shots_running(self) -> bool:
        return any(r.fn is not None and not r.done.is_set() for r in self._children.values())

    def _fail_when_one_shots_done(self) -> None:
        if self.errors and not self._one_shots_running():
            self._fail_soon()

    def _fail_soon(self) -> None:
        if not self._failing:
            self._failing = True
            self._tn.start_soon(self._cancel_for_errors)

    async def _cancel_for_errors(self) -> None:
        await self._before_teardown()  # e.g. let live REPLs in the tree finish
        self.cancel_called = True
        self._tn.cancel_scope.cancel()

    async def _before_teardown(self) -> None:
        """The actor's teardown hooks (wait while a REPL of the tree is live, and for
        the terminal to settle: no child is cancelled under a REPL), for as long as
        a child of this nursery is left to cancel. A nursery whose children all
        exited cancels nobody: its error goes on at once, so that it reaches this
        actor's crash REPL even while a sibling tree's pause loop keeps the
        terminal busy (waiting for it to settle, it never did)."""
        live = [rec for rec in self._children.values() if not rec.exited.is_set()]
        if not live or not self.actor.teardown_hooks_wait():
            return  # (no hook would wait: each would return at once)
        # the hooks run in this task (a task of their own, raced by one waiting for
        # the exits, cost the teardown three scheduler passes before its cancel went
        # out), stopped once the last of those children's exit is recorded
        with trio.CancelScope() as scope:

            def one_gone() -> None:
                if all(rec.exited.is_set() for rec in live):
                    scope.cancel()

            for rec in live:
                rec.on_exit.append(one_gone)
            try:
                await self.actor.run_teardown_hooks()
            finally:
                for rec in live:
                    rec.on_exit.remove(one_gone)

    async def _run_one_shot(self, rec: ChildRecord, portal: Portal) -> bool:
        """Run the run_in_actor function; settle its outcome (raising its error).
        True when the function returned (False: the child was cancelled)."""
        assert rec.fn is not None and rec.chan is not None
        ns, func = rec.fn
        cid, recv = await portal._start(ns, func, rec.kwargs, stream=False)
        try:
            msg = await recv.receive()
        except trio.EndOfChannel:
            with trio.move_on_after(1):
                await rec.exited.wait()
            if rec.cancel_requested and not rec.died_unasked():  # hard_kill: a cancel
                rec.settle(False, _cancelled_error(rec))
                return False
            raise rec.settle(False, rec.gone_error()) from None
        except trio.Cancelled:
            # A sibling failed or the block was cancelled. If this child failed too
            # before the cancel reached it, its error is already on the wire: keep it.
            await rec.stop()
            with trio.move_on_after(1, shield=True):
                while True:
                    try:
                        msg = await recv.receive()
                    except trio.EndOfChannel:
                        break
                    if isinstance(msg, Error) and msg.error.type_name != _CC:
                        raise rec.settle(False, unbox_error(msg.error)) from None
            rec.settle(False, rec.gone_error() if rec.died_unasked() else _cancelled_error(rec))
            raise
        finally:
            portal.calls.discard(cid)
        if isinstance(msg, Return):
            rec.settle(True, msg.value)
            return True
        assert isinstance(msg, Error)
        if msg.error.type_name == _CC and (rec.cancel_requested or self.cancel_called):
            # we cancelled it (an.cancel(), portal.cancel_actor()): not an error
            rec.settle(False, _cancelled_error(rec))
            return False
        raise rec.settle(False, unbox_error(msg.error))

    async def cancel(self, hard_kill: bool = False) -> None:
        """Cancel every child of this nursery now (concurrently) and wait until all
        are gone. ``hard_kill=True`` (the peer project's option): SIGKILL each at once
        instead of the graceful cancel (which waits ``DEVX_CANCEL_GRACE`` for a child
        that does not take it, e.g. one blocked in sync code)."""
        self.cancel_called = True
        live = [r for r in self._children.values() if r.proc is not None and r.exit_code is None]
        if hard_kill:
            for rec in live:  # all at once, before any wait
                rec.cancel_requested = True
                rec.kill_now()
        async with trio.open_nursery() as n:
            for rec in live:
                n.start_soon(rec.kill if hard_kill else rec.stop)
        self._tn.cancel_scope.cancel()

    def _ask_children_to_cancel(self) -> None:
        """The block is over: ask each live child to cancel right away (what each
        supervisor's :meth:`ChildRecord.stop` would send a scheduler pass or two
        later, once the nursery's cancel reached it)."""
        for rec in self._children.values():
            rec.cancel_nowait()
        self.actor.notify_children_cancelled()  # (the hooks' work while it waits for them)

    async def _wait_one_shots(self) -> None:
        for rec in list(self._children.values()):
            if rec.fn is not None:
                await rec.done.wait()


_CC = f"{ContextCancelled.__module__}.{ContextCancelled.__qualname__}"


def _cancelled_error(rec: ChildRecord) -> BaseException:
    return ChannelClosed(f"actor {rec.path!r} was cancelled before it returned a result")


@asynccontextmanager
async def open_nursery(
    name: str | None = None,
    *,
    debug_mode: bool | None = None,
    loglevel: str | None = None,
    enable_modules: list[str] | None = None,
    enable_stack_on_sig: bool | None = None,
    maybe_enable_greenback: bool | None = None,
    telemetry: str | None = None,
    transport: str | None = None,
    enable_transports: list[str] | str | None = None,
    spawn_method: str | None = None,
    attach: bool | None = None,
    hide_tb: bool = True,
    registry_addrs: list[tuple[str, int]] | list[Addr] | None = None,
    listen_addr: tuple[str, int] | str | None = None,
    tpt_bind_addrs: list[Any] | None = None,
    start_method: str | None = None,
    rpc_module_paths: list[str] | None = None,
) -> AsyncIterator[ActorNursery]:
    """Open an actor nursery in the current actor, opening the root actor first when
    no runtime is running (the options are ``open_root_actor``'s, used only then; an
    unknown option is a ``TypeError`` as for any function).
    ``enable_transports=["uds"]`` is the peer project's spelling of ``transport="uds"``,
    ``start_method`` of ``spawn_method`` (see ``open_root_actor``);
    ``hide_tb`` (the peer's option, default True) hides this function's frame from
    pdbp's and pytest's tracebacks; ``hide_tb=False`` shows it."""
    __tracebackhide__ = hide_tb
    if start_method is not None:
        spawn_method = from_start_method(start_method, spawn_method)
    enable_modules = with_old_module_paths(enable_modules, rpc_module_paths, stacklevel=4)
    given: dict[str, Any] = {
        "name": name,
        "debug_mode": debug_mode,
        "loglevel": loglevel,
        "enable_modules": enable_modules,
        "enable_stack_on_sig": enable_stack_on_sig,
        "maybe_enable_greenback": maybe_enable_greenback,
        "telemetry": telemetry,
        "transport": transport,
        "spawn_method": spawn_method,
        "registry_addrs": registry_addrs,
        "listen_addr": listen_addr,
        "attach": attach,
        "tpt_bind_addrs": tpt_bind_addrs,
    }
    root_kwargs = {k: v for k, v in given.items() if v is not None}
    if enable_transports is not None:
        from .root import one_transport

        root_kwargs["transport"] = one_transport(enable_transports)
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        from .spawn import Spare, offer_spare
        from .spawn_methods import EARLY_ZYGOTE, SPAWNS_SOON, start_early

        # a root opened to spawn: its zygote, or with subprocesses its first actor's
        # process (a spare), starts before it, not on the spawn (the first actor waits
        # for a fresh interpreter's imports: they overlap the root's whole set-up,
        # this module import included)
        started = await start_early(root_kwargs.get("spawn_method"))
        spare = started if isinstance(started, Spare) else None
        zygote = None if spare is not None else started
        from .root import open_root_actor

        def spawns_done(root: Actor) -> None:
            _release_zygote(root)
            if spare is not None:  # not taken by now: nobody will
                offer_spare(None)
                spare.kill()

        spawns_soon: Token[bool] | None = SPAWNS_SOON.set(True)
        early = EARLY_ZYGOTE.set(zygote)
        offer_spare(spare)
        # children whose exit was announced as the block ended: reaped once the root
        # is down (its teardown runs while the kernel ends them), before we return
        reaps: list[ChildRecord] = []
        try:
            async with open_root_actor(**root_kwargs) as root:
                try:
                    async with _open_actor_nursery(spawns_done=spawns_done, reaps=reaps) as an:
                        SPAWNS_SOON.reset(spawns_soon)
                        EARLY_ZYGOTE.reset(early)
                        spawns_soon = None
                        yield an
                finally:  # (already, unless the nursery failed to open)
                    spawns_done(root)
        finally:
            for rec in reaps:
                await rec.reap()
            if spawns_soon is not None:
                SPAWNS_SOON.reset(spawns_soon)
                EARLY_ZYGOTE.reset(early)
            if spare is not None:  # reaped, unless it is an actor (then its record's)
                offer_spare(None)
                await spare.discard()
            elif zygote is not None:  # the root did not open: nobody took it
                await zygote.discard()
        return
    if root_kwargs:
        log.debug("open_nursery(%s): the runtime is already up, root options ignored", root_kwargs)
    async with _open_actor_nursery() as an:
        yield an


def _release_zygote(root: Actor) -> None:
    """The root's nursery spawns no more: the fork server's
    :func:`~devx.runtime.forkserver.release` (its zygote goes once the root's last
    children are gone), when this process loaded it (a tree of subprocesses never
    does)."""
    forkserver = sys.modules.get(f"{__package__}.forkserver")
    if forkserver is not None:
        forkserver.release(root)


@asynccontextmanager
async def _open_actor_nursery(
    spawns_done: Callable[[Actor], None] | None = None,
    reaps: list[ChildRecord] | None = None,
) -> AsyncIterator[ActorNursery]:
    """``spawns_done(actor)``: called once the nursery can spawn no more (its block
    is left), while its children end. ``reaps``: where the children that announce
    their exit as the block ends go (:meth:`ChildRecord.stop`), for the caller to
    reap (:meth:`ChildRecord.reap`) before it returns."""
    actor = current_actor()
    await actor.ensure_listener()
    an: ActorNursery | None = None
    try:
        async with trio.open_nursery() as tn:
            an = ActorNursery(actor, tn)
            try:
                yield an
                await an._wait_one_shots()
            except BaseException:
                an.cancel_called = True  # leaving the block cancels every child
                if spawns_done is not None:
                    spawns_done(actor)
                with trio.CancelScope(shield=True):
                    await an._before_teardown()
                raise
            # the block is done and every one-shot child finished: stop the rest
            await an._before_teardown()
            an.cancel_called = True
            if spawns_done is not None:
                spawns_done(actor)
            if reaps is not None:
                for rec in an._children.values():
                    rec.reap_later = reaps
            an._ask_children_to_cancel()
            tn.cancel_scope.cancel()
    except BaseException as exc:
        raise _combine(an.errors if an else [], exc) from None
    if an.errors:
        raise _combine(an.errors, None) from None


def _combine(child_errors: list[BaseException], body: BaseException | None) -> BaseException:
    """One exception for the children's failures plus the block's own: itself when
    there is one, else a group. Cancellation of the block by a child failure is
    not an error of its own."""
    errors = list(child_errors)
    if body is not None:
        leaves = body.exceptions if isinstance(body, BaseExceptionGroup) else (body,)
        leaves = tuple(collapse(leaf) for leaf in leaves)
        real = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
        # (a Cancelled beside an error, wherever it comes in the group: an enclosing
        # scope's, e.g. a deadline that fired in the teardown, taken out there anyway)
        errors.extend(real if real or errors else leaves)
    unique: dict[tuple[type, str, tuple[str, ...]], BaseException] = {}
    for err in errors:  # a dead child is reported by its supervisor and by callers
        # (two quits read alike, each with the errors it carries: keep both lists)
        carried = tuple(getattr(err, "errors", ()) if isinstance(err, UserQuit) else ())
        unique.setdefault((type(err), safe_str(err), carried), err)
    errors = list(unique.values())
    if len(errors) == 1:
        return errors[0]
    if body is not None and not child_errors:
        return strip_cancelled(body) or collapse(body)
    return BaseExceptionGroup(f"{len(errors)} errors in an actor nursery", errors)
