"""A module whose import is slow (issue 24's boot-progress tests): it computes for
``FAULTS_BUSY_IMPORT`` seconds (progress), or waits ``FAULTS_IDLE_IMPORT`` seconds
(none), as an import of a heavy library or one that waits for a lock would; it first
touches the file ``SLOW_IMPORT_MARKER`` names, if set."""

import os
import time

if os.environ.get("SLOW_IMPORT_MARKER"):
    open(os.environ["SLOW_IMPORT_MARKER"], "a").close()

_busy = float(os.environ.get("FAULTS_BUSY_IMPORT") or 0)
_idle = float(os.environ.get("FAULTS_IDLE_IMPORT") or 0)
_end = time.monotonic() + _busy
while time.monotonic() < _end:
    pass
time.sleep(_idle)


def my_pid() -> int:
    return os.getpid()
