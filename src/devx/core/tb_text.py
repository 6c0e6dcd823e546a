"""An exception's traceback as text, as Python prints it, less the frames of the
shims devx runs a task under.

In a debug-mode actor the tasks of the actor's code run inside greenback portals
(so that ``pause_from_sync`` works from any sync code of theirs): each traceback of
such a task's error began with four frames of ``greenback`` and ``outcome``
(``greenback_shim``, ``_greenback_shim``, ``trampoline``, ``send``), twelve lines a
task that said nothing about the user's program and were not there without debug
mode. One formatter for every place devx writes a traceback (a crash banner, a
boxed remote error's text, a telemetry record's ``exception.stacktrace``), so they
read alike; and :func:`drop_task_shims` for the errors a tree's block raises, which
Python prints as the program ends.
"""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType

# packages whose frames are the machinery a task runs under, never what raised
SHIMS = ("greenback", "outcome")


def format_exception(exc: BaseException, tb: TracebackType | None) -> str:
    """``traceback.format_exception(type(exc), exc, tb)`` without the shim frames, in
    every traceback it prints (causes, contexts, members of a group). A traceback of
    shim frames only (raised in one) is left whole."""
    dirs = _shim_dirs()
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    if dirs:
        _drop_shims(te, dirs, set())
    return "".join(te.format())


def drop_task_shims(exc: BaseException) -> BaseException:
    """``exc`` (returned, for ``raise drop_task_shims(...)``) with the shim frames
    taken off the head of its traceback and of every member's of a group, in place:
    a task's error starts at the task's first frame, greenback's shim, until it is
    raised again somewhere. A traceback of shim frames only is left whole."""
    dirs = _shim_dirs()
    if dirs:
        _drop_leading(exc, dirs, set())
    return exc


def _drop_leading(exc: BaseException, dirs: tuple[str, ...], seen: set[int]) -> None:
    if id(exc) in seen:
        return
    seen.add(id(exc))
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(dirs):
        tb = tb.tb_next
    if tb is not None and tb is not exc.__traceback__:
        exc.__traceback__ = tb
    for inner in getattr(exc, "exceptions", None) or ():
        _drop_leading(inner, dirs, seen)


def _shim_dirs() -> tuple[str, ...]:
    """The directories of the shim packages loaded in this process (none loaded: no
    frame of theirs can be in a traceback)."""
    dirs = []
    for name in SHIMS:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None)
        if where:
            dirs.append(os.path.dirname(where) + os.sep)
    return tuple(dirs)


def _drop_shims(te: traceback.TracebackException, dirs: tuple[str, ...], seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [fs for fs in te.stack if not fs.filename.startswith(dirs)]
    if kept and len(kept) != len(te.stack):
        te.stack = traceback.StackSummary.from_list(kept)
    for inner in (te.__cause__, te.__context__, *(getattr(te, "exceptions", None) or ())):
        if inner is not None:
            _drop_shims(inner, dirs, seen)
