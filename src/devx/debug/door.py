"""The one door into pdb: every stop goes through a session that holds the tree's
TTY lock.

A pause, a crash or ``pause_from_sync`` opens its session before its REPL. The
stops pdb finds by itself do not: a ``b``/``tbreak``/conditional breakpoint set in
one REPL and reached later by *another* trio task or thread of the actor (bdb keeps
its trace function installed after ``c`` while breakpoints exist, and the loop
thread's trace function is shared by all of its tasks), or a step whose session
gave the terminal up while it ran (:meth:`Session._held`). Those arrive in
:meth:`PdbREPL.interaction` outside a live session of the current task/thread, and
come here: :func:`take_turn` queues for the lock as any pause does (a greenback
portal for a trio task, ``trio.from_thread.run`` for a thread), then the stop opens
its own REPL, with its own banner. A tree in attach mode without a terminal
(:mod:`devx.debug.attach`) keeps such a stop waiting for ``devx attach`` as it keeps
a pause: FIFO under the same lock, with the same ``DEVX_ATTACH_TIMEOUT``.

Breakpoints are per process (one table, :data:`breaks`, shared by every REPL of the
actor); the loop thread's trace function is :func:`hub`, which hands each new frame
to the REPL that owns the running task or thread (a task may step in its REPL while
another task's breakpoint REPL waits for its turn) or, for everyone else, to a REPL
that only looks for breakpoints.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from types import FrameType
from typing import Any

import trio

from ..runtime.actor import current_actor

__tracebackhide__ = True

log = logging.getLogger("devx.debug")

# the process's breakpoints: bdb's per-instance ``breaks`` table, shared
breaks: dict[str, list[int]] = {}

# (trio task or None, thread ident) -> the PdbREPL whose session it owns
_owners: dict[tuple[Any, int], Any] = {}
# the REPL that checks breakpoints for tasks and threads that own none
_watcher: Any = None
# a frame no code runs in: a watcher's stopframe when it stops at breakpoints only
_NOWHERE = sys._getframe()


def _key() -> tuple[Any, int]:
    from .repl import current_task

    return current_task(), threading.get_ident()


def own(pdb: Any) -> None:
    """``pdb`` is the REPL of the current task (or thread) from now on."""
    global _watcher
    _owners[_key()] = pdb
    if _watcher is None:
        _watcher = pdb


def disown(pdb: Any) -> None:
    """``pdb``'s session ended; it stays a breakpoint watcher while breakpoints exist
    (one that traces: a post-mortem's REPL leaves the watcher there was)."""
    global _watcher
    for key, owner in list(_owners.items()):
        if owner is pdb:
            del _owners[key]
    if getattr(pdb, "ready", True):
        _watcher = pdb
    elif _watcher is None or _watcher is pdb:
        # a post-mortem's REPL (it traced nothing) and no other watcher: it watches
        # from now on, stopping at breakpoints only (stopframe None stops everywhere)
        pdb._set_stopinfo(_NOWHERE, None, -1)
        pdb.ready = True
        _watcher = pdb


def hub(frame: FrameType, event: str, arg: Any) -> Any:
    """The global trace function: a new frame goes to its task's (thread's) REPL."""
    if _owners is None:  # the interpreter is finalizing: this module's globals are gone
        return None
    pdb = _owners.get(_key()) or _watcher
    if pdb is not None and not getattr(pdb, "ready", True):
        # a REPL bound to its task's new session and not tracing yet (a pause's own
        # frames, between door.bind and its set_trace: the banner, the telemetry):
        # breakpoints are still the watcher's to check (bdb's state is not set up in
        # this one: its dispatch raised AttributeError, killing the paused call)
        pdb = _watcher if _watcher is not pdb and getattr(_watcher, "ready", True) else None
    if pdb is None:
        return None
    return pdb.trace_dispatch(frame, event, arg)


_exit_hook = False


def _tracing_off_at_exit() -> None:
    """At interpreter exit no frame goes to a REPL any more: the hub stayed installed
    while breakpoints existed, and the interpreter's own teardown (module globals
    already gone) then ran through it ("Exception ignored in ... AttributeError")."""
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type, unused-ignore]


def tracing_on() -> None:
    """The hub traces this thread, and threads started from now on while
    breakpoints exist (every running thread too on Python 3.12+)."""
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        import atexit

        atexit.register(_tracing_off_at_exit)
    sys.settrace(hub)
    if breaks:
        if hasattr(threading, "settrace_all_threads"):
            threading.settrace_all_threads(hub)
        else:
            threading.settrace(hub)


def tracing_off_if_idle() -> None:
    """No breakpoint and no REPL of this thread stepping: no tracing left behind."""
    tid = threading.get_ident()
    if any(key[1] == tid for key in _owners):
        sys.settrace(hub)
        return
    if not breaks:
        sys.settrace(None)
        if not _owners:
            threading.settrace(None)  # type: ignore[arg-type, unused-ignore]


def take_turn(pdb: Any, frame: FrameType, tb: Any) -> Any:
    """A stop reached outside a live session of this task/thread: wait for the
    terminal as a pause does and return the REPL to open (``pdb`` itself for its
    owner's step, a fresh one bound to the new session otherwise), or None when the
    stop cannot wait here (said in one line) and is skipped."""
    actor = current_actor(err_on_no_runtime=False)
    if actor is None or not actor.debug_mode:
        return pdb  # a plain pdb outside a debug tree: as pdb does
    mine = pdb.session is not None and pdb.is_owner()
    stepping = mine and getattr(pdb.session, "how", "") == "yielded"
    reason = "step" if stepping else ("breakpoint" if tb is None else "exception")
    from .waiters import code_location

    where = code_location(frame)  # as a pause's banner: pdb's stop line has the full path
    session = _open(actor, reason, where)
    if session is None:
        return None
    target = pdb if mine else _fresh(frame)
    bind(target, session)
    from .pdb_habits import pytest_terminal
    from .session import interactive

    # (a test's in-process root, pytest capturing: pytest's terminal, as its pdb)
    if interactive() or pytest_terminal(session, "set_trace", lambda: target) is not None:
        session.announce(where)
    else:
        from . import attach

        # attach mode: the stop waits for `devx attach` as a pause does (FIFO, the
        # same lock, DEVX_ATTACH_TIMEOUT); without it, or past the deadline, skipped
        attached = attach.serve(session, where) if attach.enabled() else None
        if attached is None:
            if not attach.tree_ended(session):
                session.announce(f"{where}\n    stdin is not a terminal: no REPL, continuing")
            session.release()
            target.detach()
            return None
        attached.serve_pdb(target, session.announce(where, out=attached.write))
    session.repl_started(frame)
    return target


def bind(pdb: Any, session: Any) -> None:
    """Make ``pdb`` the REPL of ``session`` and of the current task/thread."""
    session.pdb = pdb
    pdb.session = session
    pdb.on_exit = session.release
    pdb.owner_task = session.owner_task
    pdb.owner_thread = threading.get_ident()
    pdb.where = session.where
    pdb.stepping_since = None  # a new turn: its prompt is about to show
    own(pdb)


def _fresh(frame: FrameType) -> Any:
    """A new REPL that takes over tracing ``frame`` and its callers from here."""
    from .. import debug as _debug
    from . import frames

    new = _debug.mk_pdb()
    new.reset()
    f: FrameType | None = frame
    while f is not None:
        f.f_trace = new.trace_dispatch
        new.botframe = f
        f = f.f_back
    new.user_root = frames.user_root(frame)
    return new


def _open(actor: Any, reason: str, where: str) -> Any:
    from .session import Session

    if trio.lowlevel.in_trio_run():
        if trio.lowlevel.current_trio_token() is not actor.trio_token:
            _skip(actor, reason, where, "it runs in a trio loop that is not the actor's")
            return None
        import greenback  # lazy: brought in only when a stop needs it

        if not trio.lowlevel.in_trio_task():
            from .repl import asyncio_task

            aio_task = asyncio_task()  # an asyncio task of an infect_asyncio actor
            if aio_task is None:
                return None
            if not greenback.has_portal(aio_task):
                why = f"asyncio task {aio_task.get_name()!r} has no greenback portal"
                _skip(actor, reason, where, why)
                return None
            from .sync import asyncio_session

            return asyncio_session(actor, reason, where, aio_task)

        task = trio.lowlevel.current_task()
        if not greenback.has_portal():
            greenback.bestow_portal(task)  # usable once the task has yielded
            _skip(actor, reason, where, f"trio task {task.name!r} has no greenback portal yet")
            return None
        return greenback.await_(Session.open(actor, reason, location=where))
    token = actor.trio_token
    if token is None:
        _skip(actor, reason, where, "the actor's trio loop is not running")
        return None
    try:
        session = trio.from_thread.run(
            functools.partial(
                Session.open, actor, reason, owned=False, for_thread=True, location=where
            ),
            trio_token=token,
        )
    except trio.RunFinishedError:
        _skip(actor, reason, where, "the actor has already exited")
        return None
    session.thread_name = threading.current_thread().name
    return session


def _skip(actor: Any, reason: str, where: str, why: str) -> None:
    log.warning(
        "devx: %s at %s in actor %r (pid %d) skipped: %s, so it cannot wait for the "
        "terminal here; the next stop of this task will",
        reason,
        where,
        actor.path,
        os.getpid(),
        why,
    )
