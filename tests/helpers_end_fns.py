"""Functions the helper-threads-end tests call in child actors (an importable module)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import trio

from devx.core import threads


async def wait_for_thread(name: str) -> None:
    """Return once a thread of this name runs here (the telemetry writer starts a
    little after the actor reported ready)."""
    with trio.fail_after(30):
        while not any(t.name == name for t in threading.enumerate()):
            await trio.sleep(0.005)


def register_a_helper_that_reports(path: str) -> None:
    """A helper thread registered to end before the process's exit. Once asked (every
    helper is asked before any is waited for) it waits for the process's other helper
    threads to end and writes which are still alive, and the pid, to ``path``; a thread
    the exit killed writes nothing. The exit's wait for its helpers is raised here
    from its 20 ms (a busy machine may not run this thread that soon: the report would
    not come, as if it were never asked) to 2 s, below the parent's 3 s cancel grace,
    and the report is written after 1 s at most: a helper that did not end (not asked,
    or deaf to it) is named in the report, its end not awaited by the parent's SIGTERM."""
    threads.END_WAIT = 2.0
    asked = threading.Event()
    me: list[threading.Thread] = []

    def run() -> None:
        asked.wait()
        others = [
            t for t in threading.enumerate() if t is not threading.main_thread() and t is not me[0]
        ]
        deadline = time.monotonic() + 1.0
        for t in others:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = sorted(t.name for t in others if t.is_alive())
        Path(path).write_text(f"{os.getpid()} alive={','.join(alive)}")

    def ask() -> bool:
        asked.set()
        return True

    me.append(threads.start_thread(run, "test-reporting-helper"))
    threads.end_before_exit(me[0], ask)
