"""The backstop for a hold of the terminal whose owner is gone.

A session (:mod:`devx.debug.session`) belongs to the task whose pause or crash opened
it, or to the thread a sync pause ran its REPL in. Its REPL ends it (``c``, ``q``,
stepping out of the user's code), or the tree ends it (holder death, cancellation).
Should the owner end while the session is still live, by a path none of those see,
nothing else would: the terminal stays held for good, and the tree's teardown,
which waits for a live REPL, waits forever. A path found (note holdguard.md): ``n``
over code that turns tracing off (``sys.settrace(None)``, as a tracer, a coverage
tool or a timeout helper may do): the step's stop never comes, the served call
returns with its session stepping. pdb's ``debug CODE`` did it too (refused now).

Here the owner's end is learnt where it happens, in the owner's process, and the hold
is released ``owner_ended`` (:data:`devx.core.schema.RELEASED_OWNER_ENDED`, recorded
as any release) with one line on the terminal naming the actor and the owner:

- a trio task (a served call, a task of the user's): a ``trio.abc.Instrument`` with
  only ``task_exited``, installed while a task-owned session holds the terminal and
  removed when its holding task is done. Chosen over a runtime hook called as a
  served call ends: nothing runs in the runtime (which must not import the debug
  layer) and nothing on the call path of any actor, debug mode or not, when no REPL
  is live; while one is, a task's exit costs one dict lookup (trio calls an
  instrument's method only for the hooks it defines). It sees every end of the
  task, a served call's or any other, which a call-path hook would not; and it
  acts at once, where a check when another requester asks or the tree tears down
  would have to ask the owner's process whether the task still runs.
- an asyncio task (``infect_asyncio``): a done callback on it.
- a thread (``pause_from_sync`` from a thread): a guard object in a
  ``threading.local``, dropped by the interpreter when the thread ends.
- a ``trio.to_thread`` worker's job: its thread outlives it (trio's thread cache
  keeps it 10 s for the next job), but the task that waits for the job (its host:
  ``trio.from_thread.run`` took the lock in it) steps as soon as the job returns. An
  Instrument with only ``before_task_step``, installed while such a session is live,
  looks at the host's steps: the job ended when the worker thread's stack no longer
  holds the REPL's outermost user frame.

A session left as it should be is ``_done`` first; its owner's end is then nothing.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from .session import Session

# the live sessions owned by a trio task, by task (this process's trio run)
_watched: dict[trio.lowlevel.Task, Session] = {}
_watch: trio.lowlevel.RunVar[_OwnerWatch | None] = trio.lowlevel.RunVar(
    "devx_holdguard", default=None
)


class _OwnerWatch(trio.abc.Instrument):
    """Hears every task's exit while installed; acts on a live session's owner."""

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        session = _watched.pop(task, None)
        if session is not None and not session._done:
            _ended(session, f"task {task.name!r}")


def watch(session: Session) -> None:
    """``session`` was granted: free it should its owning task end with it live.
    On the actor's loop thread."""
    task = session.owner_task
    if not isinstance(task, trio.lowlevel.Task):
        return  # a thread's (see watch_thread) or an asyncio task's (watch_asyncio)
    _watched[task] = session
    _install(_watch, _OwnerWatch)


def unwatch(session: Session) -> None:
    """``session``'s holding task is done (released, or never granted). On the
    actor's loop thread."""
    task = session.owner_task
    if task is not None and _watched.get(task) is session:
        del _watched[task]
    for host in [host for host, live in _hosts.items() if live is session]:
        del _hosts[host]
    if not _watched:
        _uninstall(_watch)
    if not _hosts:
        _uninstall(_host_watch)


def _install(var: trio.lowlevel.RunVar[Any], kind: type[trio.abc.Instrument]) -> None:
    """Install a ``kind`` instrument for this run unless ``var`` holds one already."""
    if var.get() is None:
        watcher = kind()
        trio.lowlevel.add_instrument(watcher)
        var.set(watcher)


def _uninstall(var: trio.lowlevel.RunVar[Any]) -> None:
    with contextlib.suppress(RuntimeError):  # (no trio run: nothing installed)
        watcher = var.get()
        if watcher is not None:
            var.set(None)
            with contextlib.suppress(KeyError):
                trio.lowlevel.remove_instrument(watcher)


# the live sessions of trio worker threads, by the task that waits for the thread's job
_hosts: dict[trio.lowlevel.Task, Session] = {}
_host_watch: trio.lowlevel.RunVar[_HostWatch | None] = trio.lowlevel.RunVar(
    "devx_holdguard_hosts", default=None
)


class _HostWatch(trio.abc.Instrument):
    """Looks at the steps of the tasks that wait for a worker thread's job."""

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        session = _hosts.get(task)
        if session is not None and not session._done and _job_ended(session):
            del _hosts[task]
            _ended(session, f"the job of thread {session.thread_name!r}")


def watch_host(session: Session, host: trio.lowlevel.Task) -> None:
    """``session`` is a ``trio.to_thread`` worker's, taken for it by ``host`` (the task
    waiting for the job). On the actor's loop thread."""
    _hosts[host] = session
    _install(_host_watch, _HostWatch)


def _job_ended(session: Session) -> bool:
    """Whether the thread of ``session``'s REPL left the user's code it paused in."""
    root = getattr(session.pdb, "user_root", None)
    thread = session.repl_thread
    if root is None or thread is None:
        return False  # no REPL yet
    frame = sys._current_frames().get(thread)
    while frame is not None:
        if frame is root:
            return False
        frame = frame.f_back
    return True


def watch_asyncio(session: Session, aio_task: Any) -> None:
    """``session`` is the asyncio task ``aio_task``'s (``infect_asyncio``)."""
    ref = weakref.ref(session)

    def done(_: Any) -> None:
        live = ref()
        if live is not None and not live._done:
            _ended(live, f"asyncio task {aio_task.get_name()!r}")

    aio_task.add_done_callback(done)


class _ThreadGuard:
    """Kept in a ``threading.local`` of the thread whose REPL holds a session: the
    interpreter drops it when that thread ends."""

    __slots__ = ("name", "session")

    def __init__(self) -> None:
        self.name = threading.current_thread().name
        self.session: weakref.ref[Session] | None = None

    def __del__(self) -> None:
        live = self.session() if self.session is not None else None
        if live is None or live._done:
            return  # (the usual end: the REPL was left)
        try:
            _ended(live, f"thread {self.name!r}")
        except Exception:  # (a daemon thread's, at the interpreter's teardown)
            pass


_thread = threading.local()


def watch_thread(session: Session) -> None:
    """``session``'s REPL runs in this thread (not the actor's loop thread)."""
    guard = getattr(_thread, "guard", None)
    if guard is None:
        guard = _thread.guard = _ThreadGuard()
    guard.session = weakref.ref(session)


def _ended(session: Session, owner: str) -> None:
    """The owner of live ``session`` ended: free it from the actor's loop (from any
    thread; nothing when the actor is gone, and its hold with it)."""
    token = session.actor.trio_token
    if token is None:
        return
    with contextlib.suppress(trio.RunFinishedError):
        token.run_sync_soon(session.owner_ended, owner)
