"""The root's TTY-lock state, kept as a file in the caller's private runtime
directory (0700, see :mod:`~devx.debug.stack.registry`), for those who cannot
follow the root's pushes: ``devx ps`` in another process, and the ``waiters``
command of a REPL whose actor's loop that REPL blocks (its pushed view stopped at
the REPL's start).

The root writes ``tty-<root uuid>.json`` (0600, atomically) from a service task on
every change of the lock, off the trio thread, coalesced; and removes it at exit.
Trees that never debug write nothing: the file exists once the root runs in debug
mode or somebody asked for the terminal. Readers check the pid is still the one
that wrote it (its /proc start time). Imports nothing heavy (the CLI reads it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .lock_protocol import LockState, decode, encode
from .stack import registry as reg

if TYPE_CHECKING:
    from ..runtime.actor import Actor
    from .lock import TTYLock

PREFIX = "tty-"
_VERSION = 1
# a change is written this long after it, with whatever followed it: a hand-off
# (release, grant, the next request) is one write, made once the next REPL's prompt
# is on its way; the write (a worker thread, JSON, a rename) competed with it for
# the 2 cores and the GIL (bench_pause's hand-off with 8 waiting: 18.5 -> 9.8 ms)
COALESCE_S = 0.1


@dataclass(frozen=True)
class TreeLock:
    """One live tree's lock, as its root last wrote it."""

    pid: int
    name: str
    uid: str
    state: LockState
    attach: bool = False  # its REPLs wait for `devx attach` (no terminal)
    root_uuid: str = ""


def path_for(root_uuid: str, *, create: bool = False) -> str | None:
    base = reg.runtime_dir(create=create)
    return None if base is None else os.path.join(base, f"{PREFIX}{root_uuid}.json")


def _read(path: str) -> TreeLock | None:
    """The tree's lock in ``path``; ``None`` when unreadable, malformed or stale
    (its root is gone: the file is removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read())
        pid = int(data["pid"])
        start = data.get("start_time")
        state = decode(data["state"], LockState)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    stale = not reg.pid_alive(pid) or (start is not None and reg.proc_start_time(pid) != start)
    if stale:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    name, uid = str(data.get("name", "")), str(data.get("uid", ""))
    root_uuid = os.path.basename(path)[len(PREFIX) : -len(".json")]
    return TreeLock(
        pid=pid,
        name=name,
        uid=uid,
        state=state,
        attach=bool(data.get("attach", False)),
        root_uuid=root_uuid,
    )


def read(root_uuid: str) -> LockState | None:
    """The live state of the tree whose root is ``root_uuid``, if its file is there."""
    path = path_for(root_uuid)
    got = _read(path) if path is not None else None
    return got.state if got is not None else None


def trees() -> list[TreeLock]:
    """Every live tree of the caller's that keeps a lock file, oldest pid first."""
    base = reg.runtime_dir(create=False)
    if base is None:
        return []
    out = []
    for fname in sorted(os.listdir(base)):
        if fname.startswith(PREFIX) and fname.endswith(".json"):
            got = _read(os.path.join(base, fname))
            if got is not None:
                out.append(got)
    return sorted(out, key=lambda t: t.pid)


class _Writer:
    """What the root writes: the file's head and the latest state written. Shared
    by the publishing task (its worker threads) and :func:`write_ahead` (a helper
    thread): one writer at a time (the temp file beside the path is one), never an
    older state over a newer one."""

    def __init__(self, root_uuid: str, head: dict[str, Any]) -> None:
        self.root_uuid = root_uuid
        self.head = head
        self.written = -1  # the seq of the state in the file
        self.path: str | None = None  # once written: removed at exit
        self.closed = False  # removed: nothing is written any more
        self.ahead = False  # a write_ahead thread was started
        self.lock = threading.Lock()

    def write(self, state: LockState) -> str | None:
        """Write ``state`` (creating the private directory on first use) unless a
        newer one is there; returns the path, or ``None`` when there is no private
        directory to write to."""
        with self.lock:
            if self.closed or (state.seq <= self.written and self.path is not None):
                return self.path
            if self.head["start_time"] is None:
                self.head["start_time"] = reg.proc_start_time(self.head["pid"])
            path = path_for(self.root_uuid, create=True)
            if path is None:
                return None
            reg.write_json_private(path, {**self.head, "state": encode(state)})
            self.written, self.path = state.seq, path
            return path


_writer: _Writer | None = None  # the root's, while it publishes


def write_ahead(lock: TTYLock, after: float = 0.0) -> None:
    """The root's own REPL is about to block its loop (its publishing task then
    writes nothing until that REPL ends): the lock's state, the one naming the root
    as the holder, is written by a helper thread ``after`` seconds from now (once the
    prompt is drawn: the write competed with it), for ``devx ps`` meanwhile; not
    when that REPL is over by then (the publishing task writes what follows)."""
    global _ahead
    writer = _writer
    if writer is None or lock.state.seq <= writer.written:
        return
    writer.ahead = True
    if _ahead is None:
        import queue

        from ..core.threads import start_thread

        _ahead = queue.SimpleQueue()
        start_thread(functools.partial(_write_ahead, _ahead), "devx-lock-file")
    _ahead.put((writer, lock, lock.state.seq, time.monotonic() + after))


# the helper thread's requests (one thread per root, started by the first of them)
_ahead: Any = None


def _write_ahead(requests: Any) -> None:
    while True:
        writer, lock, seq, at = requests.get()
        time.sleep(max(0.0, at - time.monotonic()))
        state = lock.state
        if state.seq == seq:  # still the state that REPL started under
            with contextlib.suppress(Exception):  # (the publishing task says why)
                writer.write(state)


def _attach_mode() -> bool:
    """Its REPLs wait for ``devx attach``: attach mode, and no terminal to use."""
    from .attach import waits_for_client

    return waits_for_client()


async def publish(actor: Actor, lock: TTYLock, task_status: Any = None) -> None:
    """The root's service task: write the lock's state on every change (coalesced:
    the latest state ``COALESCE_S`` after a change, never a backlog) until the root
    exits, then remove the file.
    Nothing is written (not even the directory made) until the tree debugs."""
    import trio

    global _writer
    if task_status is not None:
        task_status.started()
    writer = _writer = _Writer(
        actor.uid.uuid,
        {
            "v": _VERSION,
            "pid": actor.pid,
            "start_time": None,
            "name": actor.name,
            "uid": f"{actor.name}@{actor.uid.uuid[:8]}",
            "attach": _attach_mode(),
        },
    )
    written = -1
    try:
        while True:
            state = lock.state
            debugging = actor.debug_mode or actor.config.debug_tree or state.seq > 0
            if state.seq != written and state.seq > writer.written and debugging:
                wrote = await trio.to_thread.run_sync(writer.write, state)
                written = state.seq
                if wrote is None:
                    if writer.path is None:
                        return  # no private directory: `devx ps` cannot see this lock
                    # the directory is not private right now (its mode changed): skip
                    # this state, try the next, and still remove the file at exit
                    continue
                continue
            await lock.changed()
            await trio.sleep(COALESCE_S)  # off the hand-off's path, one write per burst
    finally:
        _writer = None
        if writer.path is not None or writer.ahead:
            with trio.CancelScope(shield=True), contextlib.suppress(OSError):
                await trio.to_thread.run_sync(_unlink, writer)


def _unlink(writer: _Writer) -> None:
    with writer.lock:  # after a write-ahead still under way
        writer.closed = True
        if writer.path is not None:
            os.unlink(writer.path)
