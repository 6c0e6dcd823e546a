"""Signal registered devx processes and collect the dump each one appends to its log:
the part of ``devx dump`` the pytest plugin shares. Plain threads and files, no trio:
callers are a CLI and a pytest watchdog thread, never a trio loop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from . import registry as reg
from .registry import Entry


@dataclass
class Collected:
    """What came back: ``got`` in tree order, ``missing`` (no dump in time), the
    topmost processes signalled, and one message per problem."""

    got: list[tuple[Entry, str]] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)
    signalled: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def texts(self) -> list[str]:
        return [text for _e, text in self.got]


def children_of(entries: list[Entry]) -> dict[int, list[Entry]]:
    pids = {e.pid for e in entries}
    out: dict[int, list[Entry]] = {}
    for e in entries:
        if e.parent_pid in pids and e.parent_pid != e.pid:
            out.setdefault(e.parent_pid, []).append(e)
    return out


def subtree(root: Entry, children: dict[int, list[Entry]]) -> list[Entry]:
    out, todo = [], [root]
    while todo:
        e = todo.pop()
        out.append(e)
        todo.extend(children.get(e.pid, ()))
    return out


def topmost(matched: list[Entry], entries: list[Entry]) -> list[Entry]:
    """Drop matches whose ancestor also matched: the ancestor's relay reaches them,
    and signalling both would only be coalesced."""
    by_pid = {e.pid: e for e in entries}
    pids = {e.pid for e in matched}
    roots = []
    for e in matched:
        seen, up = set(), by_pid.get(e.parent_pid)
        while up is not None and up.pid not in seen and up.pid not in pids:
            seen.add(up.pid)
            up = by_pid.get(up.parent_pid)
        if up is None or up.pid in seen:
            roots.append(e)
    return roots


def _log_candidates(e: Entry) -> list[str]:
    paths = [e.log_path or reg.log_path(e.pid)]
    alt = reg.alt_log_path(e.pid)
    if alt:
        paths.append(alt)
    return paths


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _read_dump(path: str, offset: int, end: str) -> str | None:
    """The first complete dump appended after ``offset``, if any."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    idx = text.find(end)
    return text[: idx + len(end)] if idx >= 0 else None


def collect(matched: list[Entry], entries: list[Entry], timeout: float) -> Collected:
    """Signal the topmost of ``matched`` (each relays to its subtree) and wait up to
    ``timeout`` seconds for the dump of every process of their subtrees."""
    out = Collected()
    children = children_of(entries)
    # sizes before signalling: each process's dump is what it appends after them
    pending: dict[int, tuple[Entry, list[tuple[str, int]]]] = {}
    for root in topmost(matched, entries):
        if reg.catches_signal(root.pid, root.signal) is False:
            out.problems.append(f"{root.label} is registered but not catching its signal now")
            continue
        for e in subtree(root, children):
            if e is root or reg.catches_signal(e.pid, e.signal) is not False:
                pending[e.pid] = (e, [(p, _size(p)) for p in _log_candidates(e)])
        out.signalled.append(root)
    t0 = time.monotonic()
    for root in list(out.signalled):
        try:
            os.kill(root.pid, root.signal)
        except OSError as exc:
            out.problems.append(f"could not signal {root.label}: {exc}")
            for e in subtree(root, children):
                pending.pop(e.pid, None)
    got: dict[int, tuple[Entry, str]] = {}
    deadline = t0 + timeout
    while pending and time.monotonic() < deadline:
        for pid, (e, logs) in list(pending.items()):
            for path, offset in logs:
                text = _read_dump(path, offset, reg.end_line(pid))
                if text is not None:
                    got[pid] = (e, text)
                    del pending[pid]
                    break
        if pending:
            time.sleep(0.02)  # polling files a process appends to: no event to wait on
    out.elapsed = time.monotonic() - t0
    out.got = sorted(got.values(), key=lambda v: v[0].sort_key)
    out.missing = sorted((e for e, _logs in pending.values()), key=lambda e: e.sort_key)
    return out
