"""Retention of the default telemetry directory (``$TMPDIR/devx-telemetry-<uid>/``):
every tree writes one file there, so without a rule it only grows.

The rule, applied by each root while its tree runs (never to a file a user named):
a ``*.otlp.jsonl`` file is removed when it is older than ``DEVX_TELEMETRY_KEEP_DAYS``
days (default 7; 0: no age limit) or is not among the newest ``DEVX_TELEMETRY_KEEP``
files (default 50; 0: keep every file). The tree's own file is always kept, and so is
any file written to in the last day (on a shared machine another tree of the user's,
or a run someone is about to read) and any file a process still has open (a tree
that has been idle or hung for longer). Only regular files of the caller's, in a
directory of the caller's, are touched; never through a symlink.

A pass stats every file, so on a busy machine (thousands of trees a day, all kept
for a day) it costs tens of ms of CPU, on a helper thread but under the GIL beside
the tree's own start: roots run it at most once a minute per directory
(``prune_now_and_then``; the stamp is ``.pruned`` there).

Stdlib only (and the suffix from ``config``): it runs in every root (on a helper
thread, see ``boot``).
"""

from __future__ import annotations

import os
import stat
import time

from ..core.own_files import own_regular_files
from .config import SUFFIX

BUSY_S = 86400.0  # written to this recently: never removed, whatever the count says
EVERY_S = 60.0  # roots prune a directory at most this often (``prune_now_and_then``)
STAMP = ".pruned"  # in the directory: its mtime is the last pass's start


def prune(
    directory: str,
    *,
    keep: int,
    keep_days: float,
    spare: str | None = None,
    now: float | None = None,
) -> list[str]:
    """Remove what the rule says from ``directory``; returns the paths removed.
    ``spare``: a file never removed (the tree's own; it counts as the newest file even
    before it exists, as when the rule runs at the tree's start)."""
    if keep <= 0 and keep_days <= 0:
        return []
    try:
        st = os.lstat(directory)
    except OSError:
        return []
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        return []
    now = time.time() if now is None else now
    # (mtime, path, real path); a listed file is a regular file, not a symlink, so its
    # real path is the directory's plus its name: one realpath for the whole pass
    real_dir = os.path.realpath(directory)
    files: list[tuple[float, str, str]] = [
        (fst.st_mtime, path, os.path.join(real_dir, name))
        for name, path, fst in own_regular_files(directory, lambda n: n.endswith(SUFFIX))
    ]
    files.sort(reverse=True)  # newest first
    spare_real = os.path.realpath(spare) if spare else None
    if spare and spare_real not in {real for _, _, real in files}:
        # the tree's own, not listed (not written yet, or created after the listing:
        # asking whether it exists now would race its writer): it counts as the newest
        files.insert(0, (now, spare, spare_real or spare))
    doomed: list[tuple[str, str]] = []
    for rank, (mtime, path, real) in enumerate(files):
        too_many = keep > 0 and rank >= keep
        too_old = keep_days > 0 and now - mtime > keep_days * 86400
        if not (too_many or too_old) or now - mtime < BUSY_S:
            continue
        if real == spare_real:
            continue
        doomed.append((path, real))
    in_use = open_files([real for _, real in doomed]) if doomed else set()
    removed = []
    for path, real in doomed:
        if real in in_use:
            continue  # a tree still writes it, however long ago it last did
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def prune_now_and_then(
    directory: str,
    *,
    keep: int,
    keep_days: float,
    spare: str | None = None,
    every: float = EVERY_S,
) -> list[str] | None:
    """``prune`` unless a pass started in ``directory`` less than ``every`` seconds
    ago (by the mtime of its ``STAMP``); ``None`` when skipped. Two roots starting
    together may both prune: harmless, a file goes once."""
    if keep <= 0 and keep_days <= 0:
        return []
    stamp = os.path.join(directory, STAMP)
    now = time.time()
    try:
        st = os.lstat(stamp)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode) and 0 <= now - st.st_mtime < every:
        return None
    try:
        if st is None:
            os.close(os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        elif stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            os.utime(stamp, (now, now), follow_symlinks=False)
    except OSError:
        pass  # not ours to stamp (or a race with another root): prune anyway
    return prune(directory, keep=keep, keep_days=keep_days, spare=spare, now=now)


def open_files(paths: list[str]) -> set[str]:
    """Those of ``paths`` (real paths, as ``/proc`` names them) some process of ours
    has open, from ``/proc/<pid>/fd`` (Linux); elsewhere, none known. Only asked about files old
    enough to be removed, so a rare, short scan on the pruning thread."""
    wanted = set(paths)
    found: set[str] = set()
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target in wanted:
                found.add(target)
        if found == wanted:
            break
    return found
