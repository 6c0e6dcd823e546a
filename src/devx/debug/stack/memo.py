"""Make a stack dump cheap, the first one included, so that a signal to a 32-actor
tree is answered by every actor within a second on two shared cores.

Where the time went (profiled on a 32-actor tree): stackscope disassembles the code
object of every frame it visits (``dis.Bytecode``, to find the ``with`` blocks) on
every dump. A root with 31 children walks ~800 frames made of a few dozen code
objects: ~0.25 s of CPU per dump in the root, and 15-20 ms in each child, all at the
moment the whole tree is signalled. That analysis is a pure function of the code
object, so :func:`install` memoizes it (only stackscope's module attribute is
replaced; its callers look it up there; the result is the same object stackscope
would build, so what a dump shows does not change).

A first dump would still analyse every code object cold, so the dump handler's
watchdog thread warms the memo once, shortly after the handler is enabled: the trio
loop lists the code objects of its tasks' frames (:func:`code_objects`, a cheap walk),
the thread analyses them and reads their source lines (:func:`warm`), off the loop.
"""

from __future__ import annotations

import contextlib
import gc
import linecache
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import Any, TypeVar, cast

_lock = threading.Lock()
_GEN_CMS = (contextlib._GeneratorContextManager, contextlib._AsyncGeneratorContextManager)
_CALLABLES = (MethodType, FunctionType)  # a bound __aexit__, an ExitStack wrapper
_EXIT_STACKS = (contextlib.ExitStack, contextlib.AsyncExitStack)
_MAX_OBJECTS = 20000


_cache: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_orig: Any = None  # stackscope's own analyze_with_blocks, once replaced


def install() -> None:
    """Memoize ``stackscope._lowlevel.analyze_with_blocks`` per code object (once).
    A stackscope without that function is left alone."""
    global _orig
    # stackscope 0.2.2 builds (and drops) an async generator's asend/athrow awaitable
    # at import to learn their types; Python 3.13 warns about each on stderr
    if "stackscope" not in sys.modules:
        warnings.filterwarnings(
            "ignore",
            message=r"coroutine method 'a(send|throw)' of .* was never awaited",
            category=RuntimeWarning,
            module=r"stackscope\.",
        )
    try:
        from stackscope import _lowlevel as low
    except ImportError:
        return
    with _lock:
        orig = getattr(low, "analyze_with_blocks", None)
        if not callable(orig) or getattr(orig, "_devx_memo", False):
            return

        _orig, low.analyze_with_blocks = orig, _per_code_object(orig, _cache)
        _memo_exception_tables(low)


_F = TypeVar("_F", bound=Callable[[Any], Any])
_tables: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _memo_exception_tables(low: Any) -> None:
    """Python 3.11+: stackscope decodes a frame's exception table (a generator over
    ``co_exceptiontable``) for every frame of every dump, ~1/7 of a warm dump's CPU;
    a pure function of the code object too: kept as a tuple (its callers only iterate
    it, looking it up on the module at each call). Called holding ``_lock``."""
    orig = getattr(low, "_parse_exception_table", None)
    if not callable(orig) or getattr(orig, "_devx_memo", False):
        return
    memoized = _per_code_object(orig, _tables, keep=tuple)
    memoized.__wrapped_orig__ = orig
    low._parse_exception_table = memoized


def _per_code_object(
    orig: _F,
    cache: weakref.WeakKeyDictionary[Any, Any],
    keep: Callable[[Any], Any] = lambda found: found,
) -> _F:
    """``orig(code)`` remembered per code object in ``cache`` (as ``keep`` makes it);
    a key that cannot be weakly referenced is not remembered."""

    def memoized(code: Any) -> Any:
        try:
            return cache[code]
        except KeyError:
            pass
        except TypeError:  # not weak-referenceable: no memo
            return orig(code)
        found = cache[code] = keep(orig(code))
        return found

    memoized._devx_memo = True  # type: ignore[attr-defined]
    memoized.__name__, memoized.__doc__ = orig.__name__, orig.__doc__
    return cast(_F, memoized)


def is_cached(code: Any) -> bool:
    return code in _cache


def code_objects(root: Any) -> list[Any]:
    """The code objects of every frame of every task below ``root``, and of the
    generator-based context managers those frames are inside (``async with`` an
    ``@asynccontextmanager``: suspended at its ``yield``, off the await chain; the
    suspended frame's value stack holds its bound ``__aexit__``, and the coroutine
    object's GC referents include that stack). Call on the trio thread: the tasks are suspended."""
    from .brief import walk_tasks

    found: dict[int, Any] = {}
    todo = [task.coro for _depth, task in walk_tasks(root)]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_OBJECTS:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
        code = code or getattr(obj, "ag_code", None)
        if code is None:
            continue
        found.setdefault(id(code), code)
        for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
            todo.append(getattr(obj, attr, None))
        for ref in gc.get_referents(obj):  # `async with` keeps the bound __aexit__
            todo.extend(_generators(ref))
    return list(found.values())


def _generators(ref: Any) -> list[Any]:
    """The generators behind a context manager found on a frame's stack: a
    ``@(async)contextmanager``, or each one entered on an ``(Async)ExitStack``."""
    cm = getattr(ref, "__self__", None) if isinstance(ref, _CALLABLES) else ref
    if isinstance(cm, _GEN_CMS):
        return [cm.gen]
    if isinstance(cm, _EXIT_STACKS):
        callbacks = getattr(cm, "_exit_callbacks", ())
        return [g for _is_sync, cb in list(callbacks) for g in _generators(cb)]
    return []


def warm(codes: list[Any]) -> None:
    """Analyse ``codes`` into the memo and load their source lines (any thread: a
    code object is immutable), so the next dump finds them ready."""
    install()
    try:
        from stackscope import _lowlevel as low
    except ImportError:
        return
    from .brief import _stdlib

    _stdlib()
    check = getattr(low, "_check_trickery_available", None)
    if callable(check):
        check()
    analyze = low.analyze_with_blocks
    for code in codes:
        try:
            analyze(code)
        except Exception:  # the dump itself will say what stackscope makes of it
            continue
        linecache.getlines(code.co_filename)
