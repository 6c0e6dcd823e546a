"""Files an actor's code left open, closed at a child's end as the interpreter would.

A child process ends with ``os._exit`` once its actor is done (see
``child._exit_now``): the interpreter's finalization, which tears down every module
and so closes every file object still referenced, is skipped. Without it a worker's
``LOG = open(...)`` at module level lost its buffered tail, a ``gzip.open(...)`` left
open its trailer (an unreadable file), and a ``NamedTemporaryFile`` stayed on disk.
:func:`close_left_open` does that one part of finalization: it closes every file
object created since the boot, the outermost first (a text layer before its buffer,
a ``GzipFile`` or a ``ZipFile`` before the file it writes into, a temporary file's
wrapper, which removes it, before the file), so each flushes into the one below it.

Finding them costs a walk of the garbage collector's objects: ~3-6 ms over the ~26k
objects a child holds after importing trio. :func:`freeze_boot_objects` moves every
object of the boot (the imports: none of them the actor's code's files) into the
collector's permanent generation, so the walk sees only what the run made; the
collector's full passes skip them too. :func:`freeze_until_ready` does it again once
the actor reported ready, for what its start made (its hooks' modules and sessions, its
code's modules), the files open among them remembered: the walk at the end, on its
parent's wait, then sees only what the actor's calls made (~1k objects fewer in a
default child: ~0.07 ms of every teardown, a walk of cold memory).
"""

from __future__ import annotations

import _io  # (the C base of every file object: a fast subclass check, unlike io.IOBase's ABC)
import gc
import itertools
import os
import sys
import threading
import time
import weakref
from typing import Any

from ..core import settings
from ..core.threads import start_thread
from . import console

_actor_path = "?"  # the child's tree path, for the line about a file it could not close


def freeze_boot_objects(actor_path: str = "?") -> None:
    """Call once the runtime is imported, before the actor's code runs (``actor_path``:
    the child's tree path, which the line about a stuck file names)."""
    global _actor_path
    _actor_path = actor_path
    gc.freeze()


_started_open: list[weakref.ref[Any]] = []  # files open as the actor reported ready


def freeze_until_ready() -> None:
    """Call once the actor reported ready: what its start made joins the boot's
    objects in the permanent generation; a file open among them (a module that opened
    one at its import) is remembered (weakly: dropped, it is closed by its collection
    as before) for :func:`close_left_open`. Not frozen when one cannot be."""
    try:
        found = _left_open(_holders())
        refs = [weakref.ref(obj) for obj in found.values()]
    except Exception:  # (TypeError: not weakly referable; the walk at the end finds it)
        return
    _started_open.extend(refs)
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
    thread of the code is blocked writing into (it holds the lock) would hold the
    end up for good (a plain interpreter aborts on the lock: "could not acquire
    lock ... at interpreter shutdown, possibly due to daemon threads"): files are
    closed by a helper thread, each given :data:`CLOSE_BOUND` seconds; one that
    takes longer is said (which file, what to do) and left, the next ones closed.
    Objects are told apart by their type, never by ``isinstance``, which reads
    ``obj.__class__``: a lazy proxy (django's ``SimpleLazyObject``,
    ``lazy_object_proxy``) evaluates its wrapped object there, which may raise."""
    try:
        holders = _holders()
        files = _left_open(holders)
        if not files:
            return
        _close_bounded(_outer_first(files), holders)
    except Exception:
        pass


CLOSE_BOUND = 1.0  # seconds a file's close may take at a child's end (at most)


def _bound() -> float:
    """:data:`CLOSE_BOUND`, or less with a short cancel grace: the parent's SIGTERM
    comes once the grace is over (a third of it is this wait's)."""
    try:
        return max(0.01, min(CLOSE_BOUND, settings.current().cancel_grace / 3))
    except Exception:
        return CLOSE_BOUND


def _close_bounded(order: list[Any], holders: tuple[type, ...]) -> None:
    """Close ``order`` in a helper thread; a file whose close takes over
    :data:`CLOSE_BOUND` is said and skipped, the rest closed by a new helper."""
    bound = _bound()
    start = 0
    while start < len(order):
        at = [start]
        done = threading.Event()

        def run(first: int = start, at: list[int] = at, done: threading.Event = done) -> None:
            for i in range(first, len(order)):
                at[0] = i
                _close_one(order[i], holders)
            done.set()

        start_thread(run, "devx-left-open")
        current, since = start, time.monotonic()
        while not done.wait(min(0.05, bound)):  # (at once, unless a close is slow)
            if at[0] != current:
                current, since = at[0], time.monotonic()
            elif time.monotonic() - since >= bound:
                break
        else:
            return
        _say_stuck(order[current], bound)
        start = current + 1


def _say_stuck(obj: Any, bound: float) -> None:
    name = getattr(obj, "name", None)
    what = f"file {name!r}" if isinstance(name, str) else f"{type(obj).__name__} (fd {name})"
    actor = _actor_path
    console.write(
        f"devx: actor {actor!r} (pid {os.getpid()}) ends with the {what} its code left "
        f"open not closed: closing it took over {bound:.2g} s (a thread of the "
        "code holds it, or the pipe or socket it writes to is full and nobody reads "
        "it); its unwritten bytes are lost. Close it, or end that thread, before the "
        "actor's function returns\n"
    )
    console.drain(timeout=bound)


def _close_one(obj: Any, holders: tuple[type, ...]) -> None:
    try:
        if _both_ways(obj, holders):  # (its read side may be a blocked thread's)
            obj.flush()
        else:
            obj.close()
    except Exception:
        pass


def _holders() -> tuple[type, ...]:
    """The types, of the modules imported, that are no file object but hold one and
    close it at their finalization: tempfile's wrapper (its close removes the file),
    ``zipfile.ZipFile`` (its ``__del__`` closes it: the archive's central directory
    is written then; without it the archive is unreadable)."""
    found = (
        getattr(sys.modules.get("tempfile"), "_TemporaryFileWrapper", None),
        getattr(sys.modules.get("zipfile"), "ZipFile", None),
    )
    return tuple(t for t in found if isinstance(t, type))


def _left_open(holders: tuple[type, ...]) -> dict[int, Any]:
    """``holders``: see :func:`_holders`. With the files remembered as the actor
    reported ready (frozen since: the walk does not see them)."""
    keep = {id(s) for s in (sys.stdin, sys.stdout, sys.stderr)}
    keep |= {id(s) for s in (sys.__stdin__, sys.__stdout__, sys.__stderr__)}
    kinds = (_io._IOBase, *holders)
    objs = gc.get_objects()
    types = list(map(type, objs))  # (a pass in C: the heap may be big)
    found = {t for t in set(types) if issubclass(t, kinds)}
    open_now = [obj for obj in (ref() for ref in _started_open) if obj is not None]
    if not found and not open_now:
        return {}
    return {
        id(obj): obj
        for obj in itertools.chain(
            itertools.compress(objs, map(found.__contains__, types)), open_now
        )
        if id(obj) not in keep and not _closed(obj) and _written(obj, holders)
    }


def _closed(obj: Any) -> bool:
    try:
        if _is_zip(obj):
            return obj.fp is None  # (a ZipFile has no ``closed``)
        return bool(obj.closed)
    except Exception:  # (a wrapper whose inner object is gone, a half-made one)
        return True


def _is_zip(obj: Any) -> bool:
    zipfile = sys.modules.get("zipfile")
    return zipfile is not None and issubclass(type(obj), zipfile.ZipFile)


def _both_ways(obj: Any, holders: tuple[type, ...]) -> bool:
    """Whether ``obj`` is read from and written to (a socket's ``makefile("rwb")``, a
    BufferedRWPair: its close takes its reader's lock too): only flushed."""
    if issubclass(type(obj), holders):
        return False
    return bool(obj.readable() and obj.writable())


def _written(obj: Any, holders: tuple[type, ...]) -> bool:
    """Whether ``obj`` may hold bytes to keep: anything but a file only read from (a
    temporary file's wrapper always: its close removes it; a ZipFile written to)."""
    if issubclass(type(obj), holders):
        return not _is_zip(obj) or obj.mode != "r"
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
