"""``pause_from_sync()``: a devx-safe breakpoint in code that cannot ``await``.

Where the caller runs decides how the tree-global TTY lock is taken:

- on the actor's trio thread (sync code called by a task, or ``breakpoint()`` in an
  async function): the task's **greenback portal** runs ``Session.open`` on the
  loop, then the REPL blocks the loop as an async ``pause()`` would. A debug-mode
  actor gives every task that runs user code a portal from its start (boot.py).
- in a ``trio.to_thread.run_sync`` worker: ``trio.from_thread.run`` (the task that
  started the thread takes the lock on its behalf, inside its cancel scope);
- in a plain ``threading.Thread``: ``trio.from_thread.run(..., trio_token=actor.trio_token)``
  (a system task takes it, over IPC to the root from a child).

In the thread cases the REPL runs in the calling thread (``sys.settrace`` is per
thread) while the actor's loop keeps serving; the banner names the thread. Two
threads pausing at once queue on the lock like two actors do: one REPL after the
other. With no runtime at all, ``allow_no_runtime=True`` gives a plain pdbp REPL,
serialised between threads of the process by a local lock.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from types import FrameType
from typing import Any

import trio

from ..core import events, hooks, schema
from ..runtime.actor import Actor, current_actor
from ..runtime.errors import NoRuntime
from . import holdguard
from . import session as _session
from .pause import called, debug_actor, enter_trace
from .repl import asyncio_task
from .session import Session, frame_attrs
from .terminal import restore_tty, save_tty, write
from .waiters import code_location

__tracebackhide__ = True

# reasons, as the TTY lock records them (see lock.Holder.reason)
SYNC_PAUSE = schema.HOLD_SYNC_PAUSE
THREAD = "thread"


class GreenbackNotEnabled(RuntimeError):
    """pause_from_sync() (or breakpoint()) on a trio task that has no greenback
    portal: one the runtime did not start (the message says which and what to do)."""


GreenbackNotEnabled.__module__ = "devx"  # public as devx.GreenbackNotEnabled


def pause_from_sync(
    hide_tb: bool = True,
    called_from_builtin: bool = False,
    api_frame: FrameType | None = None,
    allow_no_runtime: bool = False,
    **_pause_kwargs: Any,
) -> None:
    """Stop the calling sync code in a pdbp REPL at the line that called it, once
    this actor holds the tree-global TTY lock.

    Works from sync code run by a trio task (its greenback portal, which a
    debug-mode actor gives every task that runs user code), from a ``trio.to_thread``
    worker and from a plain ``threading.Thread`` in any actor. Without a runtime it
    raises :class:`~devx.NoRuntime`, or opens a plain pdbp REPL when
    ``allow_no_runtime=True`` (implied for the builtin ``breakpoint()``).

    Cost of the portals (bench/bench_greenback.py): every step of a portalled task
    goes through greenback's coroutine shim, ~+2.5 us per step (8 us plain) and
    ~+65 us per task spawned (17 us plain) on a busy 2-core x86-64, CPython 3.11;
    debug mode only.
    """
    __tracebackhide__ = hide_tb
    frame = api_frame if api_frame is not None else sys._getframe(1)
    session = open_sync_session(
        "breakpoint" if called_from_builtin else "pause_from_sync",
        reason=_pause_kwargs.get("reason"),
        allow_no_runtime=allow_no_runtime or called_from_builtin,
        location=code_location(frame),
    )
    enter_trace(session, frame)  # type: ignore[arg-type]  # BareSession quacks alike


async def maybe_init_greenback(raise_not_found: bool = True) -> Any:
    """Give the calling task (a trio task, or an asyncio task of an ``infect_asyncio``
    actor) a greenback portal, so the sync code it runs can ``pause_from_sync()`` or
    ``breakpoint()``: for a task devx did not give one (started in a nursery opened
    before the runtime, or by bare asyncio). The peer project's name. Returns the
    greenback module; when it is not installed, None with ``raise_not_found=False``,
    else a RuntimeError saying to install it."""
    try:
        import greenback
    except ImportError:
        if not raise_not_found:
            return None
        raise RuntimeError(
            "greenback is not installed: `pip install greenback` to pause from sync code"
        ) from None
    await greenback.ensure_portal()
    return greenback


def open_sync_session(
    api: str, *, reason: str | None = None, allow_no_runtime: bool = False, location: str = ""
) -> Session | BareSession:
    """Take the TTY lock from sync code, wherever it runs (see the module doc);
    ``location`` (``file.py:12 in fn()``) is what the queue shows others."""
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        if allow_no_runtime:
            return BareSession(reason or SYNC_PAUSE)
        raise NoRuntime(
            f"{called(api)} needs the actor runtime: call it inside "
            "devx.open_root_actor(debug_mode=True), or pass allow_no_runtime=True "
            "for a plain pdbp REPL"
        )
    actor = debug_actor(api)
    if trio.lowlevel.in_trio_run():
        return _on_trio_thread(actor, api, reason or SYNC_PAUSE, location)
    reason = reason or THREAD
    live = _session.current
    if live is not None and live.repl_thread == threading.get_ident() and not live._done:
        live.reentered(reason)  # this thread stepped onto another pause: same REPL
        return live
    open_unowned = functools.partial(
        Session.open, actor, reason, owned=False, for_thread=True, location=location
    )
    hosted = _in_trio_worker_thread()
    try:
        if hosted:
            session = trio.from_thread.run(_open_hosted, open_unowned)
        else:
            if actor.trio_token is None:
                raise NoRuntime(f"actor {actor.path!r} has no trio loop running")
            session = trio.from_thread.run(open_unowned, trio_token=actor.trio_token)
    except trio.RunFinishedError:
        raise NoRuntime(
            f"{called(api)} from thread {threading.current_thread().name!r}: actor "
            f"{actor.path!r} has already exited, there is no TTY lock to take"
        ) from None
    except (Exception, trio.Cancelled) as exc:
        if not _ending(actor) or (hosted and isinstance(exc, trio.Cancelled)):
            raise  # (a to_thread job's Cancelled is its host task's: for that task's scope)
        # the request was cut by the actor's own end (its channel to the parent
        # closed under it, or its service nursery with it): the error that cut it
        # (e.g. ChannelClosed, "the root went away") would name the wrong cause
        raise NoRuntime(_ending_text(api, actor)) from None
    session.thread_name = threading.current_thread().name
    return session


def _ending(actor: Actor) -> bool:
    """Whether ``actor`` is on its way out (cancelled, or its run over)."""
    return actor.cancel_called.is_set() or actor._service is None


def _ending_text(api: str, actor: Actor) -> str:
    """A thread's pause cut short by its own actor's end: what, where, why, what to do."""
    why = f" ({actor.cancel_reason})" if actor.cancel_reason else ""
    return (
        f"{called(api)} in thread {threading.current_thread().name!r} of actor "
        f"{actor.path!r} (pid {os.getpid()}) got no REPL: the actor is ending{why}, and "
        "an ending actor cannot take the tree's terminal (its request was dropped). "
        "Keep the actor up while its thread may pause: join the thread before the "
        "function the actor serves returns"
    )


async def _open_hosted(open_unowned: Any) -> Session:
    """For a ``trio.to_thread`` worker, in the task that waits for its job (trio runs
    ``from_thread.run`` there): the session is freed should the job end with it live
    (:func:`holdguard.watch_host`)."""
    session: Session = await open_unowned()
    holdguard.watch_host(session, trio.lowlevel.current_task())
    return session


def _on_trio_thread(actor: Actor, api: str, reason: str, location: str) -> Session:
    """The caller blocks the actor's loop: only a greenback portal can get the lock
    (a hang would be the alternative). Never waits without one: errors clearly."""
    if trio.lowlevel.current_trio_token() is not actor.trio_token:
        raise RuntimeError(
            f"{called(api)} was called on a trio loop that is not actor {actor.path!r}'s "
            "(a trio.run() of its own in another thread): pause outside that loop"
        )
    if not trio.lowlevel.in_trio_task():
        aio_task = asyncio_task()
        if aio_task is None:
            raise RuntimeError(f"{called(api)} called on the trio thread outside any task")
        return _in_asyncio_task(actor, api, reason, location, aio_task)
    task = trio.lowlevel.current_task()
    how = (
        "make the caller `async def` and `await devx.pause()`, or run the sync code "
        "with `await trio.to_thread.run_sync(...)`"
    )
    try:
        import greenback  # lazy: a debug-mode actor imported it at boot already
    except ImportError:
        raise GreenbackNotEnabled(
            f"{called(api)} was called from sync code on trio task {task.name!r} in actor "
            f"{actor.path!r}: taking the TTY lock without blocking the actor's loop needs "
            f"greenback, which is not installed (`pip install greenback`), or {how}"
        ) from None

    if not greenback.has_portal():
        # a portal cannot be given to a task in the middle of its step: devx gives
        # one to every task that runs user code, from its start (see boot.py)
        if task.name.endswith(".serve_channel"):
            raise GreenbackNotEnabled(
                f"{called(api)} was called from a sync RPC function in actor {actor.path!r}: "
                "the actor runs those inline in its channel reader task, which cannot "
                "wait for the TTY lock (its own channel carries the grant). Make the RPC "
                "function `async def` (sync helpers it calls can pause)"
            )
        raise GreenbackNotEnabled(
            f"{called(api)} was called from sync code on trio task {task.name!r} in actor "
            f"{actor.path!r}, which has no greenback portal: devx gives one to the root's "
            "main task and to every task started under it or under an RPC call, but this "
            "task was spawned into a nursery opened before the actor's runtime (or is "
            "one of the runtime's own), and a portal cannot be added in the middle of a "
            "step. Call `await greenback.ensure_portal()` at the start of that task, or "
            f"{how}"
        )
    session: Session = greenback.await_(Session.open(actor, reason, location=location))
    return session


def _in_asyncio_task(actor: Actor, api: str, reason: str, location: str, aio_task: Any) -> Session:
    """An asyncio task of an actor running as asyncio's guest (``infect_asyncio``):
    see :func:`asyncio_session`. Errors, saying what to do, without a portal."""
    live = _session.current
    if live is not None and live.owner_task is aio_task and not live._done:
        live.reentered(reason)  # it stepped onto another pause: the same REPL
        return live
    import greenback  # a debug-mode actor imported it at boot already

    if not greenback.has_portal(aio_task):
        raise GreenbackNotEnabled(
            f"{called(api)} was called from asyncio task {aio_task.get_name()!r} in actor "
            f"{actor.path!r}, which has no greenback portal: devx gives one to the asyncio "
            "tasks that devx.to_asyncio.run_task()/open_channel_from() start in a "
            "debug-mode actor; call `await greenback.ensure_portal()` at the start of a "
            "task started otherwise, or pause from the trio side"
        )
    return asyncio_session(actor, reason, location, aio_task)


def asyncio_session(actor: Actor, reason: str, location: str, aio_task: Any) -> Session:
    """Take the tree's TTY lock for ``aio_task`` (the running asyncio task, which has a
    greenback portal): a trio task takes it on the task's behalf (the lock is taken
    by trio tasks) while the asyncio task waits through its portal, so both loops go
    on meanwhile; then the REPL blocks the thread, as one on a trio task does. The
    session is the asyncio task's: a pause it reaches while stepping re-enters it."""
    import asyncio

    import greenback

    got: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
    scope = trio.CancelScope()

    async def take_lock() -> None:  # a trio task, on behalf of the asyncio task
        session: Session | None = None
        try:
            with scope:
                session = await Session.open(actor, reason, owned=False, location=location)
        except BaseException as exc:  # handed over (Cancelled too, then raised on)
            if not got.done():
                got.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            if not isinstance(exc, Exception):
                raise
            return
        if session is None or got.done():  # the asyncio task was cancelled meanwhile
            if session is not None:
                session.release("cancelled")
            elif not got.done():
                got.cancel()
            return
        got.set_result(session)

    def on_done(fut: asyncio.Future[Session]) -> None:
        if fut.cancelled():
            scope.cancel()

    got.add_done_callback(on_done)
    token = actor.trio_token
    if token is None:
        raise NoRuntime(f"actor {actor.path!r} has no trio loop running")
    name = aio_task.get_name()
    token.run_sync_soon(
        lambda: trio.lowlevel.spawn_system_task(take_lock, name=f"devx: TTY lock for {name}")
    )
    session: Session = greenback.await_(got)
    session.owner_task = aio_task
    session.asyncio_task_name = name
    holdguard.watch_asyncio(session, aio_task)
    return session


def _in_trio_worker_thread() -> bool:
    """Whether this thread was started by ``trio.to_thread.run_sync``."""
    try:
        trio.from_thread.check_cancelled()
    except RuntimeError:
        return False
    except trio.Cancelled:
        return True
    return True


# --- no runtime ---------------------------------------------------------------------

# REPLs of a process without a runtime, one at a time (re-entrant: a crash handler
# may fire inside code run from a REPL of the same thread)
_bare_lock = threading.RLock()


class BareSession:
    """The REPL of a process with no actor runtime: the same banner, terminal care
    and telemetry as :class:`~devx.debug.session.Session`, with a process-local lock
    instead of the tree's."""

    def __init__(self, reason: str):
        self.reason = reason
        self.pdb: Any = None
        self.owner_task: Any = None
        self.where = f"pid {os.getpid()}"
        self.thread_name: str | None = None
        self.repl_thread: int | None = None
        self._span: Any = None
        self._tty: Any = None
        self._done = False
        _bare_lock.acquire()
        if threading.current_thread() is not threading.main_thread():
            self.thread_name = threading.current_thread().name
        # recorded like any actor's REPL, the process standing in for a tree
        self._telemetry = hooks.process_telemetry()

    def announce(self, what: str, hint: str = "") -> None:
        if self.thread_name is not None:
            what = f"thread {self.thread_name!r}: {what}"
        write(
            f"\n>>> devx {self.reason.upper()} in process pid {os.getpid()} "
            f"(no actor runtime){': ' + what if what else ''}\n{hint}"
        )

    def repl_started(self, frame: FrameType | None) -> None:
        self.repl_thread = threading.get_ident()
        attrs: dict[str, Any] = {
            schema.REASON: self.reason,
            **frame_attrs(frame),
            **self._telemetry.lineage_attrs(),
        }
        self._span = events.start_span(schema.REPL_SPAN, **attrs)
        self._tty = save_tty()
        events.flush_soon(0.5, after=_session.PROMPT_FIRST_S)

    def reentered(self, reason: str) -> None:
        if self.pdb is not None:
            self.pdb.detach()

    def release(self, how: str = "continue") -> None:
        if self._done:
            return
        self._done = True
        restore_tty(self._tty)
        if self._span is not None:
            self._span.set(**{schema.RELEASE_HOW: how})
            self._span.end()
        self._telemetry.close()
        _bare_lock.release()
