"""Which frames are the user's code and which are plumbing (devx, trio, the
machinery a pause sits under). One classifier for everything that must agree: the
REPL never stops in plumbing and hides it from ``w``/``u``/``d``, stepping out of
the user's code into plumbing ends the REPL, post-mortems start at the user's
frames."""

from __future__ import annotations

import dis
import inspect
import os
from types import FrameType

__tracebackhide__ = True

# module names (and their submodules) that are never the user's code
PLUMBING = (
    "devx",
    "trio",
    "outcome",
    "greenback",
    "sniffio",
    "contextlib",
    "runpy",
    "importlib",  # (a child's `breakpoint()` in a module it imports at boot)
    "_frozen_importlib",
    "_frozen_importlib_external",
    "threading",
    "bdb",
    "pdb",
    "pdbp",
    "cmd",
)

# plumbing that is the user's own mechanism: contextlib runs the user's context
# managers for the user's `with`/`async with`. Never a stop itself, but stepping goes
# through it: from the user's code into the manager's generator and back
TRANSPARENT = ("contextlib",)

_cache: dict[str, bool] = {}


def is_plumbing_module(name: str) -> bool:
    known = _cache.get(name)
    if known is None:
        known = _cache[name] = name.split(".", 1)[0] in PLUMBING
    return known


_DEVX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def is_plumbing(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__") or ""
    if name == "__main__":  # `python -m devx.runtime.child` runs as __main__
        return frame.f_code.co_filename.startswith(_DEVX_DIR)
    return is_plumbing_module(name)


def is_transparent(frame: FrameType) -> bool:
    return (frame.f_globals.get("__name__") or "") in TRANSPARENT


def _is_scheduler(frame: FrameType) -> bool:
    """trio's run loop: everything above it on a stack is one task's code."""
    return frame.f_code.co_name == "unrolled_run" and frame.f_globals.get("__name__") == (
        "trio._core._run"
    )


def in_user_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside the user's code: it is a user frame, or some
    caller of it within the same task (or thread) is."""
    while frame is not None:
        if _is_scheduler(frame):
            return False
        if not is_plumbing(frame):
            return True
        frame = frame.f_back
    return False


def user_root(frame: FrameType) -> FrameType:
    """The outermost frame of the user's code that ``frame`` runs under (walking
    callers until one is plumbing). A context manager's generator runs under the
    user code whose ``with`` entered it (through contextlib)."""
    while True:
        caller = through_transparent(frame.f_back)
        if caller is None or is_plumbing(caller):
            return frame
        frame = caller


def through_transparent(frame: FrameType | None) -> FrameType | None:
    """``frame``, or past contextlib's frames the first one that is not contextlib."""
    while frame is not None and is_transparent(frame):
        frame = frame.f_back
    return frame


def runs_under(frame: FrameType | None, root: FrameType) -> bool:
    """Whether ``frame`` is ``root`` or runs under it with only the user's code (or
    libraries the user's code called, or contextlib) between them: not a library
    function called by plumbing (``inspect`` asked by devx, a ``WeakSet`` iterated by
    trio's scheduler)."""
    while frame is not None:
        if frame is root:
            return True
        if is_plumbing(frame) and not is_transparent(frame):
            return False
        frame = frame.f_back
    return False


def suspends_into_with(frame: FrameType) -> bool:
    """At a ``return`` event that is a suspension: whether ``frame`` is a context
    manager's generator yielding to the body of the user's ``with`` (contextlib
    called it and user code called contextlib)."""
    caller = frame.f_back
    if caller is None or not is_transparent(caller):
        return False
    outer = through_transparent(caller)
    return outer is not None and not is_plumbing(outer)


def user_caller(frame: FrameType | None) -> FrameType | None:
    """The innermost user frame at or below ``frame`` on its stack."""
    while frame is not None and is_plumbing(frame):
        frame = frame.f_back
    return frame


_SUSPEND_OPS = frozenset(dis.opmap[name] for name in ("YIELD_VALUE",) if name in dis.opmap)
_RESUME = dis.opmap.get("RESUME", -1)  # 3.11+
_GEN_OR_CORO = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def really_returns(frame: FrameType) -> bool:
    """At a ``return`` trace event: whether ``frame`` is done (returned or raised),
    not a coroutine or generator merely suspending at an ``await``/``yield``."""
    code = frame.f_code
    if not code.co_flags & _GEN_OR_CORO:
        return True
    lasti = frame.f_lasti
    raw = code.co_code
    if not 0 <= lasti < len(raw):
        return True
    if raw[lasti] in _SUSPEND_OPS:  # 3.11, 3.12: at the YIELD_VALUE
        return False
    # 3.13: already at the RESUME that follows the YIELD_VALUE
    return not (raw[lasti] == _RESUME and lasti >= 2 and raw[lasti - 2] in _SUSPEND_OPS)


def is_coroutine(frame: FrameType) -> bool:
    return bool(frame.f_code.co_flags & _GEN_OR_CORO)
