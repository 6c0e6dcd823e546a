"""Shared fixtures: every test must leave no devx actor process behind."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

# The ctrl-c tests need SIGINT deliverable. A runner that started us with SIGINT
# ignored (a background job of a shell without job control) would hand SIG_IGN down
# to every process we start, and Python leaves an ignored SIGINT ignored. A handler
# of our own resets to the default across exec, so children get ctrl-c back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Every process this test run starts inherits this tag (actors copy the environment),
# so a concurrent run on the same machine is never mistaken for our orphans.
_RUN_TAG = uuid.uuid4().hex
os.environ["DEVX_TEST_RUN"] = _RUN_TAG
_TAG_BYTES = f"DEVX_TEST_RUN={_RUN_TAG}".encode()


def devx_actor_pids() -> set[int]:
    """Pids of live devx child-actor processes started by this test run (any parent)."""
    pids = set()
    uid = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if b"devx.runtime.child" not in cmdline:
                continue
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if "State:\tZ" not in status and _TAG_BYTES in environ.split(b"\0"):
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
