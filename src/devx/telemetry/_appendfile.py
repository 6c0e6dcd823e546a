"""Append whole lines to a file that every process of a tree writes to.

Each line goes out through one ``os.write`` on an ``O_APPEND`` descriptor while holding
an exclusive ``flock``: ``O_APPEND`` makes the kernel put every write at the current end
of file, and the lock keeps another writer out while a write the kernel split (a large
line, a signal) is completed, so a reader never sees two lines interleaved. The lock
wait is bounded: a stopped process holding it must not wedge the others.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT = 2.0


class UnsafeDirectory(OSError):
    """The shared default directory exists but is not ours alone (symlink, owner, mode)."""


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (mode 0700) or check that the existing one is a real directory
    owned by us and closed to others: the default lives in a world-writable /tmp."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UnsafeDirectory(f"{path} is owned by uid {st.st_uid}, not us")
    if st.st_mode & 0o022:
        raise UnsafeDirectory(f"{path} is writable by others")


class AppendFile:
    """A lazily opened, fork-aware, lock-protected line appender."""

    def __init__(self, path: str, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._fd: int | None = None
        self._pid = 0
        self._regular = False  # the open file is a regular one (a write never waits)
        self._mutex = threading.Lock()  # flock does not exclude threads sharing the fd
        self.lock_timeouts = 0

    def _open(self) -> int:
        if self._fd is not None and self._pid == os.getpid():
            return self._fd
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._pid = os.getpid()
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        return self._fd

    def open_regular(self) -> bool:
        """Open the file now if it is a regular one (or none yet): never waits (a FIFO
        is left to the writer thread, whose open may wait for a reader)."""
        with self._mutex:
            if self._fd is not None and self._pid == os.getpid():
                return self._regular
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISREG(st.st_mode):
                    return False
            self._open()
            return self._regular

    def _lock(self, fd: int) -> bool:
        if fcntl is None:
            return False
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
            if time.monotonic() >= deadline:
                self.lock_timeouts += 1
                return False
            time.sleep(0.001)

    def write(self, data: bytes) -> None:
        """Append ``data`` (one or more complete lines) atomically w.r.t. other writers."""
        with self._mutex:
            fd = self._open()
            locked = self._lock(fd)
            try:
                _write_all(fd, data)
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def write_now(self, data: bytes) -> bool:
        """:meth:`write`, only if nothing can make it wait: the file is open already
        and regular (not a FIFO or a device), no other thread is writing, its lock is
        free at once. False: nothing was written."""
        if not data:
            return True
        if fcntl is None or not self._mutex.acquire(blocking=False):
            return False
        try:
            fd = self._fd
            if fd is None or self._pid != os.getpid() or not self._regular:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            try:
                _write_all(fd, data)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        finally:
            self._mutex.release()

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's writer thread may have held the mutex at
        the fork, and no thread of the child will release it."""
        self._mutex = threading.Lock()

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
