"""The caller's own regular files in a directory: what every pruning rule walks.

A rule that removes old files (telemetry retention, stale dump logs) must touch only
regular files the caller owns and never follow a symlink someone else planted in a
shared directory such as /tmp: one listing with ``lstat`` does that for all of them.
Stdlib only: it runs in every root, on a helper thread.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable


def own_regular_files(
    directory: str, wanted: Callable[[str], bool]
) -> list[tuple[str, str, os.stat_result]]:
    """``(name, path, lstat)`` of each regular file of the caller's in ``directory``
    whose name ``wanted`` accepts; ``[]`` when the directory cannot be listed. A file
    that vanishes between the listing and its ``lstat`` is left out."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    me = os.geteuid() if hasattr(os, "geteuid") else None  # no owners to tell apart
    found = []
    for name in names:
        if not wanted(name):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (me is None or st.st_uid == me):
            found.append((name, path, st))
    return found
