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
    try:
        pause_from_sync(called_from_builtin=True, api_frame=frame, **kwargs)
    except ForkedFromActor:
        # a process forked from the actor (a multiprocessing worker): one line and
        # the code goes on, as a breakpoint() in a debug_mode=False actor does. Written
        # straight to stderr: the console gate this process inherited may be held by
        # a REPL of the actor it was forked from, and nothing here would release it
        from ..runtime.actor import current_actor
        from . import terminal
        from .pause import forked_text

        actor = current_actor()
        code = frame.f_code
        where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}()"
        text = f"[devx] breakpoint() at {where} skipped: {forked_text(actor)}\n"
        sys.stderr.write(terminal.fit(text, terminal.columns(sys.stderr)))
        sys.stderr.flush()


def plain_actor_breakpointhook(*args: Any, **kwargs: Any) -> None:
    """``sys.breakpointhook`` in an actor of a debug tree that itself runs with
    ``debug_mode=False``: it cannot take the tree's TTY lock, and a bare pdb there
    would read the terminal beside the tree's REPLs (and be torn down under its
    prompt by the tree's grace timers, which know nothing of it). One line says so,
    through the console gate (never under a live prompt), and the code goes on."""
    from ..runtime import console
    from ..runtime.actor import current_actor

    frame = sys._getframe(1)
    code = frame.f_code
    actor = current_actor(err_on_no_runtime=False)
    who = f"actor {actor.path!r}" if actor is not None else f"pid {os.getpid()}"
    from . import terminal

    text = (
        f"[devx] breakpoint() at {os.path.basename(code.co_filename)}:{frame.f_lineno} in "
        f"{code.co_name}() skipped: {who} runs with debug_mode=False, so no REPL opens "
        "there (start it with debug_mode=True to stop at it)\n"
    )
    console.write(terminal.fit(text, terminal.columns(sys.stdout)), stream="stdout")


def ended_actor_breakpointhook(path: str) -> Hook:
    """``sys.breakpointhook`` in a child process once its actor ended, for the code
    that still runs there (atexit handlers, finalizers): the tree's TTY lock is out of
    reach without the actor, and a bare pdb would read the terminal beside the tree's
    REPLs. One line says so, and the code goes on."""

    def hook(*args: Any, **kwargs: Any) -> None:
        from ..runtime import console
        from . import terminal

        frame = sys._getframe(1)
        code = frame.f_code
        where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}()"
        text = (
            f"[devx] breakpoint() at {where} skipped: actor {path!r} (pid {os.getpid()}) "
            "has ended (an atexit handler or a finalizer runs now), and only a running "
            "actor can take the tree's terminal. Stop before the actor returns (e.g. at "
            "the end of the function it serves)\n"
        )
        console.write(terminal.fit(text, terminal.columns(sys.stderr)))
        console.drain()  # the process is ending: nothing would write it later

    return hook


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


def restore(prev: Hook | None, *, ended_child: str = "") -> None:
    """Put the previous hook back, unless someone replaced ours in the meantime;
    ``ended_child`` (its path): a child's actor ended, its process too soon: its last
    code gets :func:`ended_actor_breakpointhook` instead."""
    if prev is not None and sys.breakpointhook in (devx_breakpointhook, plain_actor_breakpointhook):
        sys.breakpointhook = ended_actor_breakpointhook(ended_child) if ended_child else prev
