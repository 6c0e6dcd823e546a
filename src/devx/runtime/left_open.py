"""Files an actor's code left open, closed at a child's end as the interpreter would.

A child process ends with ``os._exit`` once its actor is done (see
``child._exit_now``): the interpreter's finalization, which tears down every module
and so closes every file object still referenced, is skipped. Without it a worker's
``LOG = open(...)`` at module level lost its buffered tail, and a ``gzip.open(...)``
left open lost its trailer (an unreadable file), and a ``NamedTemporaryFile`` stayed
on disk. :func:`close_left_open` does that one part of finalization: it closes every
file object created since the boot, the outermost first (a text layer before its
buffer, a ``GzipFile`` before the file it writes into, a temporary file's wrapper,
which removes it, before the file), so each flushes into the one below it.

Finding them costs a walk of the garbage collector's objects: ~3-6 ms over the ~26k
objects a child holds after importing trio. :func:`freeze_boot_objects` moves every
object of the boot (the imports: none of them the actor's code's files) into the
collector's permanent generation, so the walk sees only what the run made (~0.1 ms);
the collector's full passes skip them too.
"""

from __future__ import annotations

import _io  # (the C base of every file object: a fast subclass check, unlike io.IOBase's ABC)
import gc
import itertools
import sys
from typing import Any


def freeze_boot_objects() -> None:
    """Call once the runtime is imported, before the actor's code runs."""
    gc.freeze()


def close_left_open() -> None:
    """Close every file object made since :func:`freeze_boot_objects` and still open,
    outer layers first; the process's standard streams are only flushed. Errors are
    the file's own (a full disk, a closed pipe): swallowed, as finalization does;
    nothing raised here keeps the process from its end.

    A file only read from is left to the process's end: it holds no byte to keep,
    and a thread of the actor's code blocked reading it (a subprocess's output, a
    socket's ``makefile()``) holds its lock, which its ``close()`` would wait for
    until that read returns (forever: a child stuck at its end until its parent's
    SIGKILL); one both read and written (``makefile("rwb")``) is only flushed, for
    the same reason. A file whose flush blocks (a full pipe nobody reads) or that a
    thread is blocked writing into still holds this up (as a plain interpreter's exit may).
    Objects are told apart by their type, never by ``isinstance``, which reads
    ``obj.__class__``: a lazy proxy (django's ``SimpleLazyObject``,
    ``lazy_object_proxy``) evaluates its wrapped object there, which may raise."""
    try:
        wrapper = getattr(sys.modules.get("tempfile"), "_TemporaryFileWrapper", None)
        _close(_left_open(wrapper), wrapper)
    except Exception:
        pass


def _left_open(wrapper: type | None) -> dict[int, Any]:
    """``wrapper``: tempfile's, when it is imported (not a file object: it holds one)."""
    keep = {id(s) for s in (sys.stdin, sys.stdout, sys.stderr)}
    keep |= {id(s) for s in (sys.__stdin__, sys.__stdout__, sys.__stderr__)}
    kinds = (_io._IOBase,) if wrapper is None else (_io._IOBase, wrapper)
    objs = gc.get_objects()
    types = list(map(type, objs))  # (a pass in C: the heap may be big)
    found = {t for t in set(types) if issubclass(t, kinds)}
    if not found:
        return {}
    return {
        id(obj): obj
        for obj in itertools.compress(objs, map(found.__contains__, types))
        if id(obj) not in keep and not _closed(obj) and _written(obj, wrapper)
    }


def _close(files: dict[int, Any], wrapper: type | None) -> None:
    for obj in _outer_first(files):
        try:
            if _both_ways(obj, wrapper):  # (its read side may be a blocked thread's)
                obj.flush()
            else:
                obj.close()
        except Exception:
            pass


def _closed(obj: Any) -> bool:
    try:
        return bool(obj.closed)
    except Exception:  # (a wrapper whose inner object is gone, a half-made one)
        return True


def _both_ways(obj: Any, wrapper: type | None) -> bool:
    """Whether ``obj`` is read from and written to (a socket's ``makefile("rwb")``, a
    BufferedRWPair: its close takes its reader's lock too): only flushed."""
    if wrapper is not None and issubclass(type(obj), wrapper):
        return False
    return bool(obj.readable() and obj.writable())


def _written(obj: Any, wrapper: type | None) -> bool:
    """Whether ``obj`` may hold bytes to keep: anything but a file only read from (a
    temporary file's wrapper always: its close removes it)."""
    if wrapper is not None and issubclass(type(obj), wrapper):
        return True
    try:
        return bool(obj.writable()) or not obj.readable()
    except Exception:  # (detached, half-made: closing it does nothing either)
        return False


def _outer_first(files: dict[int, Any]) -> list[Any]:
    """``files`` ordered so that each comes before any file it writes into (its
    attributes or, for the C layers, its referents)."""
    inner_of: dict[int, set[int]] = {}
    for key, obj in files.items():
        refs = gc.get_referents(obj)
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            refs += list(attrs.values())
        inner_of[key] = {id(r) for r in refs if id(r) in files and id(r) != key}
    wrapped_by = {key: 0 for key in files}
    for inners in inner_of.values():
        for key in inners:
            wrapped_by[key] += 1
    order: list[Any] = []
    ready = [key for key, n in wrapped_by.items() if n == 0]
    while ready:
        key = ready.pop()
        order.append(files[key])
        for below in inner_of[key]:
            wrapped_by[below] -= 1
            if wrapped_by[below] == 0:
                ready.append(below)
    placed = {id(obj) for obj in order}
    order += [obj for key, obj in files.items() if key not in placed]  # (a cycle: any order)
    return order
