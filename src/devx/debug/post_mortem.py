"""Post-mortem REPLs: ``post_mortem()`` from an ``except`` block, and the crash hook
that opens one in a debug-mode actor before its error is boxed and sent up."""

from __future__ import annotations

import bdb
import contextlib
import logging
import sys
import traceback
from types import FrameType, TracebackType
from typing import Any

import trio

from ..core import tb_text
from ..runtime.actor import Actor
from ..runtime.errors import (
    ChannelClosed,
    ContextCancelled,
    RemoteActorError,
    UserQuit,
    errors_before,
    safe_str,
)
from . import door, frames, tree_lock
from .pause import debug_actor
from .repl import mk_pdb
from .session import CRASH, Session, interactive
from .waiters import code_location

__tracebackhide__ = True

log = logging.getLogger("devx.debug")


def user_tb(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without the devx/trio frames around the user's code: the leading ones
    (the RPC dispatch) and the trailing ones (where a remote error was re-raised),
    so the REPL stops in the user's code; unchanged when it is all devx."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    start, stop = 0, len(entries)
    while stop > 1 and _is_devx(entries[stop - 1]):
        stop -= 1
    while start < stop - 1 and _is_devx(entries[start]):
        start += 1
    if (start, stop) == (0, len(entries)) or not entries:
        return entries[0] if entries else None
    trimmed: TracebackType | None = None
    for entry in reversed(entries[start:stop]):
        trimmed = TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return trimmed


_is_plumbing = frames.is_plumbing


def _is_devx(tb: TracebackType) -> bool:
    return _is_plumbing(tb.tb_frame)


def _has_user_frame(tb: TracebackType | None) -> bool:
    """Whether there is code of the user's to stop at: a frame of the error's
    traceback, or the user's code waiting on it up this task's stack (a child's
    error arriving in the root's nursery). One raised by the runtime alone, in a
    task that runs no user code (a call to a module the actor does not serve), has
    none: it goes to the caller, whose REPL shows it."""
    while tb is not None:
        if not _is_devx(tb):
            return True
        tb = tb.tb_next
    return frames.user_caller(sys._getframe(1)) is not None


def user_caller_frame() -> FrameType | None:
    """The innermost frame on the current stack that is the user's code."""
    return frames.user_caller(sys._getframe(1))


def wants_repl(exc: BaseException) -> bool:
    """Crashes worth a REPL: not cancellation (alone or a group of them), ctrl-c,
    or the user quitting pdb."""
    if isinstance(exc, (trio.Cancelled, KeyboardInterrupt, bdb.BdbQuit, GeneratorExit)):
        return False
    if isinstance(exc, BaseExceptionGroup):
        return any(wants_repl(e) for e in exc.exceptions)
    if isinstance(exc, ContextCancelled):  # a remote task cancelled: not a crash
        return False
    if isinstance(exc, RemoteActorError) and exc.boxed_type_name in (
        "bdb.BdbQuit",
        "trio.Cancelled",
        "builtins.KeyboardInterrupt",
    ):
        return False
    return True


async def crash_repl(
    actor: Actor,
    exc: BaseException,
    tb: TracebackType | None = None,
    *,
    shield: bool = False,
    no_repl: str = "no REPL, the error propagates",
) -> str:
    """Take the TTY lock, show the error and open a post-mortem REPL on it (the
    task that already holds the live REPL keeps its hold). Returns the tree path
    of the actor whose user quit ("" when nobody did): this REPL's ``q``, or one
    before it anywhere in the tree, after which no REPL opens (the tree ends
    quietly and the crash is reported with the quit)."""
    if tree_lock.quit_by():
        return tree_lock.quit_by()
    tb = user_tb(tb if tb is not None else exc.__traceback__)
    # where the REPL will stop (see show_and_interact): an error raised inside devx
    # (a child's death as the block unwinds) at the user's code waiting on it, not
    # at devx's frame (`crash at root.py:171 in open_root_actor()` said nothing)
    stop = _last_frame(tb)
    if stop is None or _is_plumbing(stop):
        stop = frames.user_caller(sys._getframe()) or stop
    try:
        with trio.CancelScope(shield=shield):
            session = await Session.open(actor, reason=CRASH, location=code_location(stop))
    except (ChannelClosed, OSError) as lost:
        # the root (which holds the terminal) is gone, e.g. killed: no REPL can be
        # had, and the error may reach nobody else, so it is shown here, once
        log.warning(
            "no crash REPL in actor %r (pid %d): the root actor is unreachable (%s: %s); "
            "the error:",
            actor.path,
            actor.pid,
            type(lost).__name__,
            safe_str(lost).partition("\n")[0],
            exc_info=(type(exc), exc, tb),
        )
        return ""
    quit_by = tree_lock.quit_by(session.grant) if session.pdb is None else ""
    if quit_by:  # granted after a user's quit: no REPL
        session.release("done")
        return quit_by
    try:
        show_and_interact(session, exc, tb, no_repl=no_repl)
    finally:
        session.release("done")
    return actor.path if session.how == "quit" else ""


def show_and_interact(
    session: Any,
    exc: BaseException | None,
    tb: TracebackType | None,
    *,
    no_repl: str,
    repl: Any = None,
) -> None:
    """With the lock held by ``session``: the banner, the error, then the REPL at the
    raising frame (or, without a terminal, ``no_repl`` and back). Shared by the async
    crash path and the sync crash handlers; the caller releases the session. ``repl``:
    the PdbREPL to run when the session has none yet (made here when not given)."""
    if exc is None:  # pdb.post_mortem(tb) with no exception known to go with it
        what = "post-mortem of a traceback"
        text = "Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))
    else:
        first = _first_line(exc)  # (none for a bare `assert` or `raise RuntimeError`)
        what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if session.pdb is None and not interactive():
        # a test's in-process root, pytest capturing: pytest's terminal, as its pdb
        from .pdb_habits import pytest_terminal

        given = repl
        repl = pytest_terminal(session, "post_mortem", lambda: given or mk_pdb()) or repl
    banner = session.announce(what)
    if exc is None:
        pass
    elif isinstance(exc, RemoteActorError):  # where it came from, not how it got here
        text = f"{type(exc).__name__}: {exc}\n"
    else:
        text = _error_text(exc, tb)
    sys.stdout.write(text)
    sys.stdout.flush()
    # a REPL re-entered (its task crashed while stepping) keeps its client
    attached = getattr(session, "attached", None) if session.pdb is not None else None
    if attached is not None:
        attached.write(banner + text)
    elif not interactive():
        from . import attach

        if session.pdb is None and attach.enabled():  # wait for `devx attach`
            # where it stopped, as for a pause (and `devx ps`), then what was raised
            at = getattr(session, "location", "")
            attached = attach.serve(session, f"{at} ({what})" if at else what)
        if attached is None:
            sys.stdout.write(f"    stdin is not a terminal: {no_repl}\n")
            sys.stdout.flush()
            return
    pdb = session.pdb
    if pdb is None:
        pdb = repl if repl is not None else mk_pdb()
        door.bind(pdb, session)
        if attached is not None:
            attached.write(banner + text)
            attached.serve_pdb(pdb, banner + text)
    frame = _last_frame(tb)
    pdb.reset()
    # a post-mortem traces nothing: the door's trace function, still on while a
    # breakpoint an earlier REPL set exists, hands it no frame (reset, it stopped
    # at the first call it saw: the crash REPL stood in posixpath.isabs)
    pdb.ready = False
    if frame is None or _is_plumbing(frame):
        # raised inside the runtime (a child's error arriving): stop at the
        # user's code that is waiting on it instead
        frame = user_caller_frame()
        if frame is None:  # none: pdb would have no frame to show (an IndexError)
            sys.stdout.write("    (raised inside devx, with no frame of your code to stop at)\n")
            sys.stdout.flush()
            return
        session.repl_started(frame)
        with _chained(pdb, exc):
            pdb.interaction(frame, None)
    else:
        session.repl_started(frame)
        with _chained(pdb, exc):
            pdb.interaction(None, tb)


def _chained(pdb: Any, exc: BaseException | None) -> Any:
    """Around a post-mortem at ``exc``'s traceback: the error's chain for 3.13's pdb
    (`exceptions`, `exceptions N`, `$_exception`), as its post_mortem(exc) has it.
    pdb gets devx's trimmed traceback (its own takes the whole one from the error),
    so the chain is handed beside it (trial10: "Did not find chained exceptions")."""
    hold = getattr(pdb, "_hold_exceptions", None)  # (3.13's pdb)
    chain_of = getattr(pdb, "_get_tb_and_exceptions", None)
    if exc is None or hold is None or chain_of is None:
        return contextlib.nullcontext()
    chain, _tb = chain_of(exc)
    return hold(chain)


def _error_text(exc: BaseException, tb: TracebackType | None) -> str:
    """The error as Python prints it. One raised inside devx (a child's death as the
    root's block unwinds: its traceback is devx's frames alone, trimmed to one) shows
    instead the user's code waiting on it, the frames the REPL stops in, with the
    error's own line (which says what ended, where and how): devx's frames said
    nothing to the user (trial7)."""
    last = _last_frame(tb)
    waiting = user_caller_frame() if last is None or _is_plumbing(last) else None
    if waiting is None:
        return tb_text.format_exception(exc, tb)
    users = []
    frame: FrameType | None = waiting
    while frame is not None:
        if not _is_plumbing(frame):
            users.append((frame, frame.f_lineno))
        frame = frame.f_back
    stack = traceback.StackSummary.extract(reversed(users))
    return (
        "Traceback (most recent call last):\n"
        + "".join(stack.format())
        + "  (raised inside devx while your code waited here)\n"
        + "".join(traceback.format_exception_only(type(exc), exc))
        + _members_text(exc)
    )


def _members_text(exc: BaseException) -> str:
    """A group's members, each its own line(s) (``format_exception_only`` gives a
    group's line alone: which workers died, and how, was not said)."""
    lines = []
    for i, member in enumerate(getattr(exc, "exceptions", None) or (), 1):
        text = "".join(traceback.format_exception_only(type(member), member))
        lines.append(f"  {i}. " + text.rstrip("\n").replace("\n", "\n     ") + "\n")
        inner = _members_text(member)
        if inner:
            lines.append("".join("   " + line for line in inner.splitlines(True)))
    return "".join(lines)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, RemoteActorError):
        return f"{exc.boxed_type_name.removeprefix('builtins.')} from actor {exc.src_path!r}"
    text = safe_str(exc)
    return text.splitlines()[0] if text else ""


def _last_frame(tb: TracebackType | None) -> Any:
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    return frame


async def post_mortem(
    *,
    tb: TracebackType | None = None,
    api_frame: Any = None,
    hide_tb: bool = False,
    shield: bool = False,
    **_pause_kwargs: Any,
) -> None:
    """Like ``pdb.post_mortem()`` for devx: call it in an ``except`` block (or pass
    ``tb``) to get a REPL on the exception, holding the tree-global TTY lock.
    ``shield=True`` opens it even inside a cancelled scope, as ``pause`` does."""
    __tracebackhide__ = hide_tb
    actor = debug_actor("post_mortem")
    exc = sys.exc_info()[1]
    if tb is None:
        if exc is None:
            raise ValueError("post_mortem() outside an except block needs tb=")
        tb = exc.__traceback__
    if exc is None:
        exc = RuntimeError("post_mortem")
    # called from the user's except block: what happens next is the caller's code,
    # unless the user quit (here or before, anywhere in the tree): the tree ends
    quit_by = await crash_repl(actor, exc, tb, shield=shield, no_repl="no REPL, continuing")
    if quit_by:
        raise UserQuit(quit_by)


async def crash_hook(actor: Actor, exc: BaseException) -> BaseException | None:
    """Registered on debug-mode actors: a REPL before the error is boxed and sent up.
    A user's quit (at this REPL, or before it in the tree) replaces the error with
    a quit carrying it, so no parent opens a REPL and the quit report lists it."""
    if actor.debug_mode and wants_repl(exc) and _has_user_frame(exc.__traceback__):
        quit_by = await crash_repl(actor, exc)
        if quit_by:
            return UserQuit(quit_by, errors_before(exc, actor.path))
    return None
