"""Run at interpreter start by the processes of the one test that puts this directory
on PYTHONPATH (test_forkserver's slow zygote): computes for ``SLOW_START_BUSY``
seconds when that is set, as a slow-starting interpreter would (a fork server started
after the root set the variable)."""

import os
import time

_end = time.monotonic() + float(os.environ.get("SLOW_START_BUSY") or 0)
while time.monotonic() < _end:
    pass
