"""The one way devx's own terminal output goes out, with a gate that holds it back
while a REPL is live anywhere in the tree.

What goes through here: devx's log lines, warnings, teardown notices, stack dumps and
telemetry notices. What never does: the user's prints, a REPL's own output, the REPL
banner and the crash traceback shown before a REPL (those are the REPL).

* :func:`hold` closes the gate: every :func:`write` is kept, in order, in a buffer
  bounded by :data:`MAX_BYTES` (the oldest whole entries are dropped first, and one
  line says how many lines were lost). It only sets a flag, so it may be called from
  any thread and from a signal handler.
* :func:`release` opens the gate, writes what was kept, in order, then lets writes go
  straight out again. :func:`drain` writes what is kept even while the gate is
  closed: for a process about to end (it also runs at interpreter exit), so nothing
  is lost.
* :func:`stream` gives a file-like object for ``logging.StreamHandler`` and structlog.

A write with the gate open is one ordinary write to ``sys.stderr``/``sys.stdout``
(looked up at write time: pytest and REPLs swap them) or to the fd, then a flush: it
never waits for anything but the terminal. Writes never raise.

Concurrency: the buffer is a deque touched under a reentrant lock held only for a few
list operations (never around I/O), so a signal handler that writes on a thread
already inside it cannot deadlock. Exactly one thread at a time writes the buffer out
(a non-blocking try-lock); a write that comes while the buffer is not empty or is
being written out joins its tail, so nothing overtakes what was held back.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections import deque
from typing import Literal

from ..core import settings

__all__ = [
    "MAX_BYTES",
    "ConsoleStream",
    "drain",
    "held",
    "held_reason",
    "hold",
    "kept",
    "log_format",
    "release",
    "stream",
    "take",
    "write",
    "write_bytes",
]

StreamName = Literal["stderr", "stdout"]

MAX_BYTES = 4 * 1024 * 1024
"""Cap on what is kept while the gate is closed (bytes of text, UTF-8 counted)."""


# one kept write: (target, payload, size in bytes, line count); the target is
# "stderr"/"stdout" for text (payload: str) or an fd for bytes (payload: bytes)
_Entry = tuple[str | int, str | bytes, int, int]

_held = False
_reason = ""
_pending: deque[_Entry] = deque()
_pending_bytes = 0
_dropped_lines = 0
_buf_lock = threading.RLock()  # reentrant: a signal handler may write on a thread inside it
_out_lock = threading.Lock()  # the one thread writing the buffer out; never waited on by writes
_out_thread: int | None = None  # ident of that thread while it writes


# --- the gate ---------------------------------------------------------------------------


def hold(reason: str = "") -> None:
    """Close the gate: devx's writes are kept until :func:`release` (idempotent; sets a
    flag only, so any thread or a signal handler may call it)."""
    global _held, _reason
    _reason = reason
    _held = True


def release() -> None:
    """Open the gate: write everything kept, in order, then write directly again."""
    global _held
    _held = False
    _pump(force=False, wait=0.0)


def held() -> bool:
    """Whether the gate is closed."""
    return _held


def kept() -> bool:
    """Whether writes are kept, waiting for the gate to open."""
    return bool(_pending) or _dropped_lines > 0


def held_reason() -> str:
    """The reason given to the last :func:`hold` (for diagnostics)."""
    return _reason if _held else ""


def take(timeout: float = 0.5) -> list[tuple[StreamName, str]]:
    """Remove what is kept and return it, in order, as (stream, text): for another
    process to write (an actor that ends while a REPL is live elsewhere hands its
    lines to the root). Empty when a write-out in another thread did not finish
    within ``timeout`` s (that thread writes it)."""
    try:
        if not _out_lock.acquire(timeout=timeout):
            return []
    except Exception:
        return []
    out: list[tuple[StreamName, str]] = []
    try:
        while (entry := _take(True)) is not None:
            target, payload = entry[0], entry[1]
            name: StreamName = "stdout" if target in ("stdout", 1) else "stderr"
            text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            out.append((name, text))
    finally:
        _out_lock.release()
    return out


def drain(timeout: float = 5.0) -> None:
    """Write everything kept now, even while the gate is closed (a process about to
    end); the gate stays as it is. Waits at most ``timeout`` seconds for a write-out
    already running in another thread to finish first."""
    _pump(force=True, wait=timeout)


# --- writing ----------------------------------------------------------------------------


def write(text: str, *, stream: StreamName = "stderr") -> None:
    """Write ``text`` to ``sys.stderr`` (or ``sys.stdout``), or keep it while the gate
    is closed. Never raises."""
    try:
        if text:
            _submit(stream, text)
    except Exception:
        pass


def write_bytes(data: bytes, *, fd: int = 2) -> None:
    """Write ``data`` to file descriptor ``fd`` (all of it, os.write in a loop), or keep
    it while the gate is closed. Never raises."""
    try:
        if data:
            _submit(fd, bytes(data))
    except Exception:
        pass


def _submit(target: str | int, payload: str | bytes) -> None:
    if _held or _pending or _out_thread is not None:
        if isinstance(payload, str):
            size = len(payload.encode("utf-8", "replace"))
            lines = payload.count("\n") + (not payload.endswith("\n"))
        else:
            size, lines = len(payload), payload.count(b"\n") or 1
        _keep((target, payload, size, lines))
        if not _held:
            _pump(force=False, wait=0.0)
        return
    _emit((target, payload, 0, 0))


def _keep(entry: _Entry) -> None:
    global _pending_bytes, _dropped_lines
    with _buf_lock:
        _pending.append(entry)
        _pending_bytes += entry[2]
        while _pending_bytes > MAX_BYTES and _pending:
            old = _pending.popleft()
            _pending_bytes -= old[2]
            _dropped_lines += old[3]
        if not _pending:
            _pending_bytes = 0


def _take(force: bool) -> _Entry | None:
    """The next kept write to go out, or None (nothing kept, or the gate closed)."""
    global _pending_bytes, _dropped_lines
    with _buf_lock:
        if _held and not force:
            return None
        if _dropped_lines:
            n, _dropped_lines = _dropped_lines, 0
            text = f"[devx] {n} earlier lines dropped while a REPL was live\n"
            return ("stderr", text, 0, 1)
        if not _pending:
            _pending_bytes = 0
            return None
        entry = _pending.popleft()
        _pending_bytes -= entry[2]
        return entry


def _pump(*, force: bool, wait: float) -> None:
    """Write the kept entries out in order, from one thread at a time. Loops until it
    leaves nothing behind that another caller could not pick up."""
    global _out_thread
    me = threading.get_ident()
    while True:
        if _out_thread == me:
            return  # re-entered (a signal handler): the outer write-out goes on
        try:
            got = _out_lock.acquire(timeout=wait) if wait > 0 else _out_lock.acquire(False)
        except Exception:
            return
        if not got:
            return  # the thread writing out will see what was added
        _out_thread = me
        try:
            while (entry := _take(force)) is not None:
                _emit(entry)
        finally:
            _out_thread = None
            _out_lock.release()
        # something kept after our last look, by a writer whose own try-lock failed
        if not _pending and not _dropped_lines:
            return
        if _held and not force:
            return


def _emit(entry: _Entry) -> None:
    target, payload = entry[0], entry[1]
    try:
        if isinstance(payload, bytes):
            _write_fd(int(target), payload)
            return
        out = getattr(sys, str(target), None)
        if out is None:
            return
        try:
            out.write(payload)
            out.flush()
        except RuntimeError:
            # a reentrant write on a buffered stream (a signal handler interrupted a
            # write of the same stream): go under it, straight to the fd
            _write_fd(out.fileno(), payload.encode("utf-8", "backslashreplace"))
    except Exception:
        pass


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# --- file-like wrapper ------------------------------------------------------------------


class ConsoleStream:
    """A text stream writing through the gate to ``sys.<name>`` (looked up at each
    write), for ``logging.StreamHandler`` and structlog's ``WriteLogger``."""

    def __init__(self, name: StreamName = "stderr") -> None:
        self.name = name

    def _target(self) -> object:
        return getattr(sys, self.name, None)

    def write(self, s: str) -> int:
        write(s, stream=self.name)
        return len(s)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass  # every write is flushed when it goes out

    def isatty(self) -> bool:
        try:
            return bool(self._target().isatty())  # type: ignore[attr-defined]
        except Exception:
            return False

    def fileno(self) -> int:
        return int(self._target().fileno())  # type: ignore[attr-defined]

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._target(), "encoding", None) or "utf-8"

    def __repr__(self) -> str:
        return f"<devx console {self.name}>"


_streams: dict[str, ConsoleStream] = {}


def stream(name: StreamName = "stderr") -> ConsoleStream:
    """The file-like object writing to ``sys.<name>`` through the gate."""
    s = _streams.get(name)
    if s is None:
        s = _streams[name] = ConsoleStream(name)
    return s


def log_format(name: StreamName = "stderr") -> Literal["json", "console"]:
    """How devx's log lines look on the terminal: ``DEVX_LOG_FORMAT`` (``json`` or
    ``console``) if set, else one readable line each on a TTY and JSON otherwise."""
    val = settings.current().log_format
    if val == "json":
        return "json"
    if val == "console":
        return "console"
    return "console" if stream(name).isatty() else "json"


atexit.register(drain)
