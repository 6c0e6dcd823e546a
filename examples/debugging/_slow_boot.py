"""Imported by an actor as it boots (habits_cancel_spawn.py): says so through a
marker file, then keeps the boot hanging so its parent can be cancelled mid-spawn."""

import os
import time

marker = os.environ.get("DEVX_SLOW_BOOT_MARKER")
if marker:
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
