"""Shared fixtures: every test must leave no devx actor process behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest


def devx_actor_pids() -> set[int]:
    """Pids of live devx child-actor processes owned by us (any parent)."""
    pids = set()
    uid = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"devx.runtime.child" in cmdline and "State:\tZ" not in status:
            pids.add(int(entry.name))
    return pids


def wait_gone(pids: set[int], timeout: float = 5.0) -> set[int]:
    """Wait until none of ``pids`` is a live devx actor; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive &= devx_actor_pids()
        if alive:
            time.sleep(0.05)
    return alive


@pytest.fixture(autouse=True)
def no_orphans():
    """Fail a test that leaves child actor processes running (and kill them)."""
    before = devx_actor_pids()
    yield
    leftover = wait_gone(devx_actor_pids() - before)
    for pid in leftover:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not leftover, f"orphaned devx actor processes: {sorted(leftover)}"
