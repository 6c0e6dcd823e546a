"""The builtin ``breakpoint()`` in a debug-mode actor: remapped to
:func:`devx.pause_from_sync`, so a stray ``breakpoint()`` takes the tree-global TTY
lock instead of opening a bare pdb that fights the other actors for the terminal.

Installed per actor by the debug boot hook and restored when the actor exits. A
``PYTHONBREAKPOINT`` the user set explicitly wins: Python's default hook honours it
(``0`` disables ``breakpoint()``, ``module.func`` calls that), so devx leaves it be.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

__tracebackhide__ = True

Hook = Callable[..., Any]


def devx_breakpointhook(*args: Any, **kwargs: Any) -> None:
    """``sys.breakpointhook`` while a debug-mode actor runs."""
    __tracebackhide__ = True
    from ..runtime.errors import ForkedFromActor
    from .sync import pause_from_sync

    # the builtin is C code: our caller's frame is the one that called breakpoint()
    frame = sys._getframe(1)
    from .pdb_habits import via_pytest

    # in a test: breakpoint() is pytest's pdb.set_trace() outside a tree, which
    # suspends pytest's output capture for the REPL (and resumes it after `c`); its
    # pdb's set_trace comes to devx's REPL through pdb_habits
    if via_pytest(None, "set_trace", frame):
        return
    try:
        pause_from_sync(called_from_builtin=True, api_frame=frame, **kwargs)
    except ForkedFromActor:
        say_forked("breakpoint()", frame)


def plain_actor_breakpointhook(*args: Any, **kwargs: Any) -> None:
    """``sys.breakpointhook`` in an actor of a debug tree that itself runs with
    ``debug_mode=False``: it cannot take the tree's TTY lock, and a bare pdb there
    would read the terminal beside the tree's REPLs (and be torn down under its
    prompt by the tree's grace timers, which know nothing of it)."""
    say_plain("breakpoint()", sys._getframe(1))


def ended_actor_breakpointhook(path: str) -> Hook:
    """``sys.breakpointhook`` in a child process once its actor ended, for the code
    that still runs there (atexit handlers, finalizers): the tree's TTY lock is out of
    reach without the actor, and a bare pdb would read the terminal beside the tree's
    REPLs."""

    def hook(*args: Any, **kwargs: Any) -> None:
        say_ended("breakpoint()", sys._getframe(1), path)

    return hook


# --- the one line a way into pdb gets where no REPL can open (breakpoint() here, the
# habits of pdb_habits): what was called, where, why, and the code goes on


def at(frame: FrameType | None) -> str:
    """`` at file.py:12 in fn()`` for ``frame`` (nothing for None)."""
    if frame is None:
        return ""
    code = frame.f_code
    return f" at {os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}()"


def say_forked(what: str, frame: FrameType | None) -> None:
    """In a process forked from the actor (a multiprocessing worker). Written straight
    to stderr: the console gate this process inherited may be held by a REPL of the
    actor it was forked from, and nothing here would release it."""
    from ..runtime.actor import current_actor
    from . import terminal
    from .pause import forked_text

    text = f"[devx] {what}{at(frame)} skipped: {forked_text(current_actor())}\n"
    sys.stderr.write(terminal.fit(text, terminal.columns(sys.stderr)))
    sys.stderr.flush()


def say_ended(what: str, frame: FrameType | None, path: str) -> None:
    """In a child whose actor ``path`` ended (its atexit handlers, finalizers run)."""
    from ..runtime import console
    from . import terminal

    text = (
        f"[devx] {what}{at(frame)} skipped: actor {path!r} (pid {os.getpid()}) has ended "
        "(an atexit handler or a finalizer runs now), and only a running actor can take "
        "the tree's terminal. Stop before the actor returns (e.g. at the end of the "
        "function it serves)\n"
    )
    console.write(terminal.fit(text, terminal.columns(sys.stderr)))
    console.drain()  # the process is ending: nothing would write it later


def say_plain(what: str, frame: FrameType | None) -> None:
    """In an actor of a debug tree that runs with ``debug_mode=False``: through the
    console gate (never under a live prompt)."""
    from ..runtime import console
    from ..runtime.actor import current_actor
    from . import terminal

    actor = current_actor(err_on_no_runtime=False)
    who = f"actor {actor.path!r}" if actor is not None else f"pid {os.getpid()}"
    text = (
        f"[devx] {what}{at(frame)} skipped: {who} runs with debug_mode=False, so no REPL "
        "opens there (start it with debug_mode=True to stop at it)\n"
    )
    console.write(terminal.fit(text, terminal.columns(sys.stdout)), stream="stdout")


def user_chose_hook() -> bool:
    """Whether ``PYTHONBREAKPOINT`` was set (and Python reads the environment)."""
    return bool(os.environ.get("PYTHONBREAKPOINT")) and not sys.flags.ignore_environment


def install(*, plain: bool = False) -> Hook | None:
    """Remap ``breakpoint()`` (``plain``: in a debug tree's actor that runs with
    ``debug_mode=False``, to :func:`plain_actor_breakpointhook`); returns the previous
    hook for :func:`restore`, or ``None`` when the user's ``PYTHONBREAKPOINT`` (or
    devx already) is in charge."""
    ours = (devx_breakpointhook, plain_actor_breakpointhook)
    if user_chose_hook() or sys.breakpointhook in ours:
        return None
    prev = sys.breakpointhook
    sys.breakpointhook = plain_actor_breakpointhook if plain else devx_breakpointhook
    return prev


def take_back(*, plain: bool = False) -> None:
    """A child of a debug tree imports its modules once :func:`install` ran: a
    ``sys.breakpointhook = ...`` at the top level of one (the root's script, loaded
    again) replaced devx's there, while the root's ``open_root_actor`` had replaced
    it (the script ran first), so the root's ``breakpoint()`` opened devx's REPL and
    the child's the user's hook (trial8). The child takes it back, as the root did;
    ``PYTHONBREAKPOINT`` still wins in both."""
    ours = (devx_breakpointhook, plain_actor_breakpointhook)
    if not user_chose_hook() and sys.breakpointhook not in ours:
        sys.breakpointhook = plain_actor_breakpointhook if plain else devx_breakpointhook


def restore(prev: Hook | None, *, ended_child: str = "") -> None:
    """Put the previous hook back, unless someone replaced ours in the meantime;
    ``ended_child`` (its path): a child's actor ended, its process too soon: its last
    code gets :func:`ended_actor_breakpointhook` instead."""
    if prev is not None and sys.breakpointhook in (devx_breakpointhook, plain_actor_breakpointhook):
        sys.breakpointhook = ended_actor_breakpointhook(ended_child) if ended_child else prev
