"""``pause()``: a breakpoint in any actor of the tree, one REPL at a time."""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Any

import trio

from ..core import schema
from ..runtime.actor import Actor, current_actor
from ..runtime.errors import ForkedFromActor, NoRuntime, UserQuit
from . import door, tree_lock
from .repl import asyncio_task, take_pdb
from .session import Session, interactive
from .waiters import code_location

__tracebackhide__ = True


def called(api: str) -> str:
    """How an API is named in a message: ``devx.pause_from_sync()``, or, for a way
    into pdb routed here (:mod:`devx.debug.pdb_habits`), ``pdb.set_trace()``."""
    return f"{api}()" if "." in api else f"devx.{api}()"


def debug_actor(api: str) -> Actor:
    """The current actor, which must run in debug mode for ``api`` to work."""
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        raise NoRuntime(
            f"{called(api)} needs the actor runtime: call it inside "
            "devx.open_root_actor(debug_mode=True) or devx.open_nursery(debug_mode=True)"
        )
    if actor.pid != os.getpid():
        raise ForkedFromActor(f"{called(api)} in a forked process: {forked_text(actor)}")
    if not actor.debug_mode:
        raise RuntimeError(
            f"{called(api)} in actor {actor.path!r}, which is not in debug mode: boot the tree "
            "with debug_mode=True (or start this actor with start_actor(debug_mode=True))"
        )
    return actor


def forked_text(actor: Actor) -> str:
    """Why no REPL opens in this process, forked from ``actor`` (a multiprocessing
    worker): what happened, where, and what to do instead."""
    return (
        f"pid {os.getpid()} was forked from actor {actor.path!r} (pid {actor.pid}; by "
        "multiprocessing?) and runs no devx runtime: it cannot take the tree's terminal, "
        "so no REPL opens here. Stop in the actor's own code, or run this function in "
        "an actor of its own (ActorNursery.run_in_actor)"
    )


async def pause(
    *,
    hide_tb: bool = True,
    api_frame: FrameType | None = None,
    shield: bool = False,
    **_pause_kwargs: Any,
) -> None:
    """Stop this task at the ``await devx.pause()`` line in a pdbp REPL,
    once this actor holds the tree-global TTY lock (waiting for another actor's REPL
    to end first). ``c`` resumes, ``q`` raises ``bdb.BdbQuit`` in this task as pdb
    does; so does a pause reached after a user quit a REPL of the tree.
    ``shield=True`` pauses even inside a cancelled scope.
    """
    __tracebackhide__ = hide_tb
    frame = api_frame if api_frame is not None else sys._getframe(1)
    actor = debug_actor("pause")
    if not trio.lowlevel.in_trio_task() and (aio_task := asyncio_task()) is not None:
        raise RuntimeError(
            f"`await devx.pause()` in asyncio task {aio_task.get_name()!r} of actor "
            f"{actor.path!r}: pause() is a trio awaitable; on asyncio's side call "
            "breakpoint() (or devx.pause_from_sync()) instead"
        )
    if tree_lock.quit_by():  # the user quit a REPL of the tree: it is ending
        raise UserQuit(tree_lock.quit_by())
    with trio.CancelScope(shield=shield):
        session = await Session.open(
            actor,
            reason=_pause_kwargs.get("reason", schema.HOLD_PAUSE),
            location=code_location(frame),
            repl=True,
        )
    enter_trace(session, frame)


# under the banner of a REPL that can step: what stepping does that plain pdb would not
# (every line of a banner fits 100 columns: tests/test_one_door.py checks a real one)
STEP_HINT = (
    "    (stepping stays in your code: `s` steps over calls into devx, remote calls included)\n"
)


def enter_trace(session: Session, frame: FrameType) -> None:
    """Open the REPL at ``frame``'s current line (or, without a terminal, say where we
    would have stopped and go on). A session whose REPL is already live (its task
    stepped onto another pause) keeps its REPL: the trace just restarts at
    ``frame``. Plumbing frames are never a stop, so the tracer may run through
    devx's own code on the way back to ``frame``."""
    # `file.py:12 in fn()`, as the queue shows it: pdb's stop line under the banner
    # gives the full path (which would take the banner past 100 columns)
    location = code_location(frame)
    # (a sync pause with no runtime has a bare session: no grant, no tree)
    quit_by = tree_lock.quit_by(getattr(session, "grant", None)) if session.pdb is None else ""
    if quit_by:  # granted after a user's quit: no REPL, this task quits too
        session.release("done")
        raise UserQuit(quit_by)
    # a REPL re-entered (its task stepped onto another pause) keeps its client
    attached = getattr(session, "attached", None) if session.pdb is not None else None
    pdb = session.pdb
    fresh = pdb is None
    if fresh and not interactive():
        # a test's in-process root, pytest capturing: pytest's terminal, as its pdb
        from .pdb_habits import pytest_terminal

        pdb = pytest_terminal(session, "set_trace", take_pdb)
    if attached is None and not interactive():
        from . import attach

        if session.pdb is None and attach.enabled():
            attached = attach.serve(session, location)
        if attached is None:
            if not attach.tree_ended(session):
                session.announce(f"{location}\n    stdin is not a terminal: no REPL, continuing")
            session.release()
            return
    if fresh:
        if pdb is None:
            pdb = take_pdb()
        door.bind(pdb, session)
        if attached is not None:
            attached.serve_pdb(pdb, session.announce(location, out=attached.write, hint=STEP_HINT))
        else:
            session.announce(location, hint=STEP_HINT)
    session.repl_started(frame)
    # a new REPL stops on the pause call's line, as the banner says; one reached
    # while stepping (re-entered) goes on to the next line, as `n` over a call would
    pdb.set_trace(frame, here=fresh)


async def breakpoint(**kwargs: Any) -> None:
    """Deprecated alias of :func:`pause`."""
    warnings.warn(
        "devx.breakpoint() is deprecated: use `await devx.pause()` (or "
        "devx.pause_from_sync() in sync code)",
        DeprecationWarning,
        stacklevel=2,
    )
    kwargs.setdefault("api_frame", sys._getframe(1))
    await pause(**kwargs)
