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

Stdlib only: it runs in every root (on a helper thread, see ``boot``).
"""

from __future__ import annotations

import os
import stat
import time

SUFFIX = ".otlp.jsonl"
BUSY_S = 86400.0  # written to this recently: never removed, whatever the count says


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
    me = os.geteuid()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != me:
        return []
    now = time.time() if now is None else now
    files: list[tuple[float, str]] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        path = os.path.join(directory, name)
        try:
            fst = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(fst.st_mode) and fst.st_uid == me:
            files.append((fst.st_mtime, path))
    files.sort(reverse=True)  # newest first
    spare_real = os.path.realpath(spare) if spare else None
    if spare and spare_real not in {os.path.realpath(p) for _, p in files}:
        # the tree's own, not listed (not written yet, or created after the listing:
        # asking whether it exists now would race its writer): it counts as the newest
        files.insert(0, (now, spare))
    doomed = []
    for rank, (mtime, path) in enumerate(files):
        too_many = keep > 0 and rank >= keep
        too_old = keep_days > 0 and now - mtime > keep_days * 86400
        if not (too_many or too_old) or now - mtime < BUSY_S:
            continue
        if spare_real is not None and os.path.realpath(path) == spare_real:
            continue
        doomed.append(path)
    in_use = open_files(doomed) if doomed else set()
    removed = []
    for path in doomed:
        if os.path.realpath(path) in in_use:
            continue  # a tree still writes it, however long ago it last did
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def open_files(paths: list[str]) -> set[str]:
    """Those of ``paths`` (real paths) some process of ours has open, from
    ``/proc/<pid>/fd`` (Linux); elsewhere, none known. Only asked about files old
    enough to be removed, so a rare, short scan on the pruning thread."""
    wanted = {os.path.realpath(p) for p in paths}
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
