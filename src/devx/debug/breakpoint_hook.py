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
    from .sync import pause_from_sync

    # the builtin is C code: our caller's frame is the one that called breakpoint()
    pause_from_sync(called_from_builtin=True, api_frame=sys._getframe(1), **kwargs)


def user_chose_hook() -> bool:
    """Whether ``PYTHONBREAKPOINT`` was set (and Python reads the environment)."""
    return bool(os.environ.get("PYTHONBREAKPOINT")) and not sys.flags.ignore_environment


def install() -> Hook | None:
    """Remap ``breakpoint()``; returns the previous hook for :func:`restore`, or
    ``None`` when the user's ``PYTHONBREAKPOINT`` (or devx already) is in charge."""
    if user_chose_hook() or sys.breakpointhook is devx_breakpointhook:
        return None
    prev = sys.breakpointhook
    sys.breakpointhook = devx_breakpointhook
    return prev


def restore(prev: Hook | None) -> None:
    """Put the previous hook back, unless someone replaced ours in the meantime."""
    if prev is not None and sys.breakpointhook is devx_breakpointhook:
        sys.breakpointhook = prev
