"""Process-level plumbing shared by the dump handler and ``devx dump``: the private
actor registry, safe log files and a few /proc readers.

Why a registry: ``devx dump`` must find the devx actors of the caller (the root is
the user's own script, so neither its argv nor its exec-time environment marks it),
know where each sits in its tree and which signal it listens on, and never signal a
process whose handler is not installed (SIGUSR1's default action kills it).  Every
process that enables the dump handler writes ``<dir>/<pid>.json`` (its lineage, the
signal, its /proc start time against pid reuse) and removes it when it disables the
handler.  ``<dir>`` is ``$DEVX_RUNTIME_DIR`` or ``/tmp/devx-<euid>``, a 0700
directory owned by the caller; anything else there is refused, never trusted.

This module imports nothing heavy (no trio) so the CLI stays quick to start; every
root imports it (its advert for ``devx ps``), so it writes JSON with msgspec (loaded
with the runtime) and defines no dataclass: ``json`` and ``dataclasses`` cost a root
~3 ms; readers import ``json`` when they read.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from typing import Any

import msgspec

from ...core import settings
from ...core.own_files import own_regular_files

LOG_DIR = "/tmp"
END_MARKER = "===== end devx stack dump"
BEGIN_MARKER = "===== devx stack dump"
_ENTRY_VERSION = 1
# set by the pytest plugin while a test runs: every process started under it (actors,
# subprocesses) registers with this tag, so a hung test's trees can be found


class UnsafePath(OSError):
    """A path we were about to write is not a private regular file of ours."""


LOG_PREFIX, LOG_SUFFIX = "devx-stackscope-", ".log"  # LOG_DIR/<prefix><pid><suffix>


def log_path(pid: int | None = None) -> str:
    """Where the dumps of process ``pid`` (default: this one) are appended."""
    return os.path.join(LOG_DIR, f"{LOG_PREFIX}{os.getpid() if pid is None else pid}{LOG_SUFFIX}")


def drop_stale_log(path: str) -> bool:
    """Remove ``path``, this process's dump log, when an earlier process with the same
    pid wrote it (last written before this process started): its dumps would come
    first in the file. Called once, before this process registers for dumps (no
    reader knows an offset in it yet). Only a regular file of ours, never a symlink."""
    try:
        st = os.lstat(path)
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    ticks = proc_start_time(os.getpid())
    if ticks is None or not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        return False
    started = time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    if st.st_mtime >= started - 1.0:  # (the clock's and the tick's roundings)
        return False
    with contextlib.suppress(OSError):
        os.unlink(path)
        return True
    return False


def prune_logs(keep_days: float, now: float | None = None) -> list[str]:
    """Remove the caller's dump logs in ``LOG_DIR`` last written more than
    ``keep_days`` days ago (``0``: keep them all): every process that dumped leaves
    one, kept for CI jobs to collect, and without a rule /tmp only grows."""
    if keep_days <= 0:
        return []
    now = time.time() if now is None else now
    removed = []
    for _, path, st in own_regular_files(
        LOG_DIR, lambda n: n.startswith(LOG_PREFIX) and n.endswith(LOG_SUFFIX)
    ):
        if now - st.st_mtime > keep_days * 86400:
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(path)
    return removed


def alt_log_path(pid: int | None = None) -> str | None:
    """The private fallback used when the /tmp log path is not safe to write."""
    base = runtime_dir(create=False)
    if base is None:
        return None
    return os.path.join(base, f"stackscope-{os.getpid() if pid is None else pid}.log")


def end_line(pid: int) -> str:
    return f"{END_MARKER}: pid {pid} =====\n"


# --- the private directory ---------------------------------------------------------


def _runtime_base() -> str:
    """Where the private directory is (made or not): ``DEVX_RUNTIME_DIR``, else
    ``/tmp/devx-<uid>``."""
    return settings.current().runtime_dir or f"/tmp/devx-{os.geteuid()}"


def runtime_dir_problem() -> str | None:
    """Why the private directory is never used, and what to do (one line); ``None``
    when it is usable, or not made yet but can be."""
    base = _runtime_base()
    try:
        st = os.lstat(base)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(base))
        if os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
            return None
        made = "is not a directory" if not os.path.isdir(parent) else "is not writable by you"
        return (
            f"the private runtime directory {base} does not exist and cannot be made "
            f"({parent} {made}): `devx ps`, `devx dump`, `devx attach` and `waiters` see "
            "no tree of yours; set DEVX_RUNTIME_DIR to a directory of yours (it is made "
            "mode 0700 if missing, its parent must exist)"
        )
    except OSError as exc:
        why = f"cannot be read ({exc.strerror or exc})"
    else:
        if stat.S_ISLNK(st.st_mode):
            why = "is a symlink"
        elif not stat.S_ISDIR(st.st_mode):
            why = "is not a directory"
        elif st.st_uid != os.geteuid():
            why = f"is owned by uid {st.st_uid}, not by you"
        elif st.st_mode & 0o077:
            why = f"is open to others (mode {stat.S_IMODE(st.st_mode):04o}; `chmod 700` it)"
        else:
            return None
    return (
        f"the private runtime directory {base} {why}: devx never uses it, so `devx ps`, "
        "`devx dump`, `devx attach` and `waiters` see no tree of yours; remove it, or set "
        "DEVX_RUNTIME_DIR to a directory of yours with mode 0700"
    )


def runtime_dir(*, create: bool = True) -> str | None:
    """The caller's private devx directory, or ``None`` when it is missing (and not
    created) or unsafe: not a real directory, not ours, or open to others."""
    base = _runtime_base()
    if create:
        try:
            os.mkdir(base, 0o700)
        except FileExistsError:
            pass
        except OSError:  # cannot be made (a missing parent, no write access)
            return None  # runtime_dir_problem() says so
    try:
        st = os.lstat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        return None
    if st.st_mode & 0o077:
        return None
    return base


# --- safe log files ----------------------------------------------------------------


def open_private_append(path: str) -> int:
    """Open ``path`` for appending, creating it 0600; never through a symlink, never
    a file of someone else's, a FIFO/device, or a hard link to another file of ours.

    O_NOFOLLOW refuses a planted symlink, O_NONBLOCK keeps a planted FIFO from
    blocking the open, and fstat checks what we actually got."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePath(exc.errno, "is a symlink: not followed", path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(0, "is not a regular file", path)
        if st.st_uid != os.geteuid():
            raise UnsafePath(0, f"is owned by uid {st.st_uid}, not us", path)
        if st.st_nlink != 1:
            raise UnsafePath(0, "has other hard links", path)
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _json_bytes(data: Any) -> bytes:
    """``data`` as JSON. msgspec refuses a lone surrogate (how Python holds bytes of
    ``os.environ`` or ``sys.argv`` that are not UTF-8, e.g. a hang tag); the stdlib
    escapes it, and every reader of these files parses with the stdlib."""
    try:
        return msgspec.json.encode(data)
    except UnicodeEncodeError:
        import json

        return json.dumps(data).encode()


def _write_private_tmp(tmp: str, body: bytes) -> None:
    """``body`` in a new 0600 file ``tmp`` (one left by a killed writer replaced);
    no ``tmp`` is left behind when the write fails."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, body)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)


def write_json_private(path: str, data: dict[str, Any]) -> None:
    """``data`` as JSON in ``path``, atomically (a 0600 temp file beside it, then a
    rename): a reader sees the old file or the new one, never half of one."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    _write_private_tmp(tmp, _json_bytes(data))
    if _swap(tmp, path):  # tmp holds the old file now
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    else:
        os.replace(tmp, path)


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_renameat2: Any = None  # libc's renameat2 once looked up; False: none


def _swap(tmp: str, path: str) -> bool:
    """Exchange ``tmp`` and an existing ``path`` atomically (Linux ``renameat2``
    with ``RENAME_EXCHANGE``); False when that is not possible here (no such call,
    a file system without it, no ``path`` yet): then a plain rename is.

    Why not always the plain rename: on ext4 (``auto_da_alloc``) a rename over an
    existing file allocates the new file's blocks at once, and removing an allocated
    file costs its remover 0.3 to 5 ms on this kind of disk; these files are removed
    by a root on its way out, on its trio thread (measured: 0.05 ms after a swap)."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            import ctypes

            fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
            if fn is not None:
                c_int, c_path = ctypes.c_int, ctypes.c_char_p
                fn.argtypes = [c_int, c_path, c_int, c_path, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
    if _renameat2 is False or not os.path.lexists(path):
        return False
    src, dst = os.fsencode(tmp), os.fsencode(path)
    if _renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_EXCHANGE) == 0:
        return True
    import ctypes
    import errno

    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        _renameat2 = False  # this kernel or file system has no exchange: not asked again
    return False


# --- /proc readers ------------------------------------------------------------------


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/pid/stat):
    with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def catches_signal(pid: int, sig: int) -> bool | None:
    """Whether ``pid`` has a handler for ``sig`` (SigCgt in /proc/pid/status); ``None``
    when that cannot be read. A process without one would die of SIGUSR1."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped by its parent) does
    not, though a signal to it still succeeds."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # no /proc (not Linux): the signal's answer stands
    # the state follows the command's closing parenthesis: "pid (comm) S ..."
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


# --- registry entries ---------------------------------------------------------------


class Entry(msgspec.Struct, frozen=True):
    """One registered process with the dump handler enabled."""

    pid: int
    start_time: int | None
    signal: int
    name: str
    uid: str
    path: str
    parent_uid: str
    root_uid: str
    parent_pid: int
    is_root: bool
    actor: bool  # False: a plain trio program, no actor runtime
    log_path: str
    tag: str = ""  # $DEVX_HANG_TAG when it registered (the test that started it)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            pid=int(data["pid"]),
            start_time=None if data.get("start_time") is None else int(data["start_time"]),
            signal=int(data["signal"]),
            name=str(data.get("name", "")),
            uid=str(data.get("uid", "")),
            path=str(data.get("path", "")),
            parent_uid=str(data.get("parent_uid", "")),
            root_uid=str(data.get("root_uid", "")),
            parent_pid=int(data.get("parent_pid", 0)),
            is_root=bool(data.get("is_root", False)),
            actor=bool(data.get("actor", False)),
            log_path=str(data.get("log_path", "")),
            tag=str(data.get("tag", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"v": _ENTRY_VERSION, **msgspec.structs.asdict(self)}

    @property
    def sort_key(self) -> tuple[str, str, int]:
        return (self.root_uid or self.uid, self.path or self.name, self.pid)

    @property
    def label(self) -> str:
        if self.actor:
            return f"{self.path or self.name} ({self.uid}, pid {self.pid})"
        return f"{self.name} (pid {self.pid}, no actor runtime)"


def register(entry: Entry) -> str | None:
    """Write (or replace) this process's entry atomically; returns its path, or
    ``None`` when the private directory is unavailable."""
    base = runtime_dir(create=True)
    if base is None:
        return None
    final = os.path.join(base, f"{entry.pid}.json")
    write_json_private(final, entry.to_json())
    return final


def unregister(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def entries(*, prune: bool = True) -> list[Entry]:
    """Registered processes that are still the ones that registered (live pid, same
    start time, ours); stale files are removed when ``prune``."""
    import json

    base = runtime_dir(create=False)
    if base is None:
        return []
    out: list[Entry] = []
    me = os.geteuid()
    for fname in os.listdir(base):
        stem, dot, ext = fname.partition(".")
        if not (dot and ext == "json" and stem.isdigit()):
            continue
        full = os.path.join(base, fname)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                entry = Entry.from_json(json.loads(f.read()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        stale = entry.pid != int(stem) or not pid_alive(entry.pid)
        if not stale and entry.start_time is not None:
            stale = proc_start_time(entry.pid) != entry.start_time
        if not stale:
            owner = proc_uid(entry.pid)
            stale = owner is not None and owner != me
        if stale:
            if prune:
                unregister(full)
            continue
        out.append(entry)
    return out
