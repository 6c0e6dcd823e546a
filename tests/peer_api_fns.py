"""Functions test_peer_api runs in child actors: ``get_runtime_vars()`` as a child sees
it, and children that ignore a graceful cancel (their loop blocked in sync code) for
``hard_kill``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import devx


def runtime_vars() -> dict[str, Any]:
    return devx.get_runtime_vars()


async def async_runtime_vars() -> dict[str, Any]:
    return devx.get_runtime_vars()


def my_pid() -> int:
    return os.getpid()


def block_the_loop(flag: str) -> None:
    """Say so in ``flag``, then block this actor's loop in sync code: a graceful
    cancel never gets through (only a signal does)."""
    Path(flag).write_text(str(os.getpid()))
    time.sleep(3600)


async def parent_of_an_idle_child(flag: str) -> None:
    """Start an idle child of our own, name its pid in ``flag``, then block our loop."""
    async with devx.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=[__name__])
        pid = await portal.run(my_pid)
        Path(flag).write_text(str(pid))
        time.sleep(3600)
