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
import sys
from typing import Any


def freeze_boot_objects() -> None:
    """Call once the runtime is imported, before the actor's code runs."""
    gc.freeze()


def close_left_open() -> None:
    """Close every file object made since :func:`freeze_boot_objects` and still open,
    outer layers first; the process's standard streams are only flushed. Errors are
    the file's own (a full disk, a closed pipe): swallowed, as finalization does."""
    keep = {id(s) for s in (sys.stdin, sys.stdout, sys.stderr)}
    keep |= {id(s) for s in (sys.__stdin__, sys.__stdout__, sys.__stderr__)}
    tempfile = sys.modules.get("tempfile")  # (not a file object: it holds one)
    kinds = (_io._IOBase, getattr(tempfile, "_TemporaryFileWrapper", _io._IOBase))
    files = {
        id(obj): obj
        for obj in gc.get_objects()
        if isinstance(obj, kinds) and id(obj) not in keep and not _closed(obj)
    }
    for obj in _outer_first(files):
        try:
            obj.close()
        except Exception:
            pass


def _closed(obj: Any) -> bool:
    try:
        return bool(obj.closed)
    except Exception:  # (a wrapper whose inner object is gone, a half-made one)
        return True


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
