"""Every running tree's root advertises itself for ``devx ps``: a small file in the
caller's private runtime directory (0700, see :mod:`~devx.debug.stack.registry`).

Why: the stack-dump registry lists only processes that take dumps, and the lock
state file (:mod:`.lock_file`) only trees that debug; a plain tree left running (or
hung) was invisible. The root writes ``tree-<root uuid>.json`` (0600, atomically, on a
helper thread: the trio thread only starts the write; the first once the root's first
child process started, or 0.05 s after the root did) with its pid and /proc start
time, name, when it started and how it runs (debug, attach), and the count of its
actors when it holds the registry they register with; it rewrites the file when that
count changes (coalesced) and removes it at exit. A root killed with SIGKILL leaves
its file behind: readers check the pid is alive and still the process that wrote it
(its start time), skip the file otherwise and remove it.

Imports nothing heavy at module level (the CLI reads these files).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .stack import registry as reg

if TYPE_CHECKING:
    from ..runtime.actor import Actor

PREFIX = "tree-"
_VERSION = 1
COALESCE_S = 0.1  # a burst of spawns is one rewrite of the count, not one per actor


class TreeAdvert(msgspec.Struct, frozen=True):
    """One live tree, as its root last advertised it. (A Struct, not a dataclass:
    every root imports this module, and dataclasses with it costs ~1-2 ms.)"""

    pid: int
    start_time: int | None  # /proc start time of the root, in clock ticks
    name: str
    uid: str  # name@uuid8, as elsewhere in `devx ps`
    root_uuid: str
    started: float  # wall clock (time.time()) when the root started
    debug: bool
    attach: bool
    actors: int | None  # None: its registry is another process's
    path: str


def path_for(root_uuid: str, *, create: bool = False) -> str | None:
    base = reg.runtime_dir(create=create)
    return None if base is None else os.path.join(base, f"{PREFIX}{root_uuid}.json")


def _write(root_uuid: str, data: dict[str, Any]) -> str | None:
    """Write atomically (making the private directory on first use); the path, or
    ``None`` when there is no private directory."""
    path = path_for(root_uuid, create=True)
    if path is not None:
        reg.write_json_private(path, data)
    return path


def _first_write(root_uuid: str, data: dict[str, Any]) -> tuple[str | None, int | None]:
    """The first write, with the root's start time read here too (off the trio
    thread); ``(path, start time)``."""
    data["start_time"] = reg.proc_start_time(int(data["pid"]))
    return _write(root_uuid, data), data["start_time"]


FIRST_WRITE_WITHIN = 0.05  # s: the first write waits this long at most for the spawn
SETTLE_WAIT = 2.0  # s: and this long at most for the root's registry (a probe's timeout)
EXIT_WAIT = 1.0  # s: at most this long at exit for a first write still under way


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _count(actor: Actor) -> int | None:
    """The tree's actors registered in this root's own registry (its root included);
    ``None`` when the tree registers with another process's."""
    table = actor.registry
    if table is None:
        return None
    return sum(1 for e in table.entries.values() if e.root_uid == actor.uid)


async def publish(actor: Actor, task_status: Any = None) -> None:
    """The root's service task: advertise the tree until it exits, then remove the
    file. Reports started at once (the writes are a worker thread's)."""
    import trio

    from ..core import settings
    from ..core.threads import start_thread

    if task_status is not None:
        task_status.started()
    data: dict[str, Any] = {
        "v": _VERSION,
        "pid": actor.pid,
        "start_time": None,
        "name": actor.name,
        "uid": f"{actor.name}@{actor.uid.uuid[:8]}",
        "path": actor.path,
        "started": time.time(),
        "debug": bool(actor.debug_mode or actor.config.debug_tree),
        "attach": settings.current().attach,
        "actors": _count(actor),
    }
    path: str | None = None
    # the first write on a helper thread of its own, once the root's first child
    # process started (or it ends), at the latest after FIRST_WRITE_WITHIN: done at
    # once, it took the GIL (and a trio worker, which the spawn then had to start
    # anew) from the root's way to that spawn. A thread's wait, not the loop's: a root
    # whose loop blocks before its first spawn (sync work, a pause, a hang) is listed
    first: list[Any] = []  # (path, start time), or what the write raised
    wrote = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def write_first() -> None:
        actor.kick_helpers.wait(FIRST_WRITE_WITHIN)
        # the count of the registry the root's set-up settled on (done by its first
        # spawn; a set-up still probing for a registrar delays this write, boundedly),
        # not the `?` of this service's start: the loop's rewrite would correct that
        # only once it runs, never while the root's body blocks it
        if actor.registry_known.wait(SETTLE_WAIT):
            with contextlib.suppress(RuntimeError):  # the table changed while counted
                data["actors"] = _count(actor)  # (then the loop's rewrite corrects it)
        try:
            first.append(_first_write(actor.uid.uuid, dict(data)))
        except BaseException as exc:
            first.append(exc)
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(wrote.set)

    start_thread(write_first, "devx-tree-advert")
    try:
        await wrote.wait()
        if isinstance(first[0], BaseException):
            raise first[0]
        path, data["start_time"] = first[0]
        if path is None:
            problem = reg.runtime_dir_problem()
            if problem is not None:  # said once, by the root: this tree is invisible
                import logging

                logging.getLogger("devx.debug").warning("%s", problem)
        # the root's set-up decides whether it holds the registry (it runs after
        # this service starts): with another process's registry, no count to keep
        await actor.registry_settled.wait()
        table = actor.registry
        if path is None or table is None:
            await trio.sleep_forever()  # the file stays until the tree exits
        assert table is not None
        seen = -1
        while True:
            if table.version != seen:
                seen = table.version
                count = _count(actor)
                if count != data["actors"]:
                    data["actors"] = count
                    await trio.to_thread.run_sync(_write, actor.uid.uuid, dict(data))
                continue
            await table.changed()
            await trio.sleep(COALESCE_S)
    finally:
        if path is None:  # ended before it heard of the first write: the kick let it go
            if not first:
                with trio.CancelScope(shield=True), trio.move_on_after(EXIT_WAIT):
                    await wrote.wait()
            if first and not isinstance(first[0], BaseException):
                path = first[0][0]
        if path is not None:
            # one unlink in the private runtime directory, here: a worker thread's
            # round trip cost the root's exit up to 2 ms on a loaded machine (as the
            # press socket and a Unix listener are removed)
            _unlink(path)


def _read(path: str) -> TreeAdvert | None:
    """The advert in ``path``; ``None`` when unreadable, malformed or stale (its root
    is gone, or its pid is another process's now: the file is removed)."""
    import json  # readers only (devx ps): a root writes with msgspec

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read())
        pid = int(data["pid"])
        start = data.get("start_time")
        actors = data.get("actors")
        advert = TreeAdvert(
            pid=pid,
            start_time=None if start is None else int(start),
            name=str(data.get("name", "")),
            uid=str(data.get("uid", "")),
            root_uuid=os.path.basename(path)[len(PREFIX) : -len(".json")],
            started=float(data.get("started", 0.0)),
            debug=bool(data.get("debug", False)),
            attach=bool(data.get("attach", False)),
            actors=None if actors is None else int(actors),
            path=str(data.get("path", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    stale = not reg.pid_alive(pid)
    if not stale and advert.start_time is not None:
        stale = reg.proc_start_time(pid) != advert.start_time
    if not stale:
        owner = reg.proc_uid(pid)
        stale = owner is not None and owner != os.geteuid()
    if stale:
        _unlink(path)
        # and what else the dead root's tree left in the directory: its attach key
        # and socket (removed at a root's exit, not at a SIGKILL's)
        from .attach import forget_tree

        forget_tree(advert.root_uuid)
        return None
    return advert


def trees() -> list[TreeAdvert]:
    """Every live tree of the caller's, oldest first."""
    base = reg.runtime_dir(create=False)
    if base is None:
        return []
    out = []
    for fname in os.listdir(base):
        if fname.startswith(PREFIX) and fname.endswith(".json"):
            got = _read(os.path.join(base, fname))
            if got is not None:
                out.append(got)
    return sorted(out, key=lambda t: (t.started, t.pid))
