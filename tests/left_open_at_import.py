"""A module that opens a file at its import and leaves it open (a worker's module-level
``LOG = open(...)``): its path is ``LEFT_OPEN_AT_IMPORT``'s value (set by the test,
inherited by the child that imports this module)."""

from __future__ import annotations

import os

_PATH = os.environ.get("LEFT_OPEN_AT_IMPORT")
LOG = open(_PATH, "w") if _PATH else None  # (left open on purpose: never closed)
if LOG is not None:
    LOG.write("imported\n")


def write_lines(lines: int) -> None:
    assert LOG is not None
    for i in range(lines):
        LOG.write(f"line {i}\n")
