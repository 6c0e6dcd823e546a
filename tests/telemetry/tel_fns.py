"""Functions the telemetry tree scenarios run inside child actors."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator

import devx
from devx.core import events


async def leaf(x: int) -> int:
    events.event("test.leaf", x=x)
    return x * 2


async def mid(x: int) -> int:
    """Spawn a grandchild and call it: a three-level tree."""
    async with devx.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=["tel_fns"])
        result = await portal.run(leaf, x=x)
        await portal.cancel_actor()
    return result


async def record_then_see_it_written(path: str, within: float) -> bool:
    """Record an event right after this actor's start, then wait (no flush) until
    the telemetry file ``path`` holds it: True when it did within ``within`` s."""
    import trio

    events.event("test.early", mark="written-while-alive")
    with trio.move_on_after(within):
        while True:
            try:
                with open(path, "rb") as f:
                    if b"written-while-alive" in f.read():
                        return True
            except FileNotFoundError:
                pass
            await trio.sleep(0.005)
    return False


async def boom() -> None:
    raise ZeroDivisionError("boom in the child")


async def dump_then_die() -> None:
    """A real SIGUSR1 dump (this actor has dumps enabled), then SIGKILL the moment it is
    done: its telemetry record must already be on disk. The dump runs on the loop as
    one callback (log file, stderr copy, telemetry record, flush), so once this task
    runs again and sees the dump's end line in the log, all of it has run."""
    import trio

    from devx.debug.stack import registry as reg

    path = reg.log_path()
    start = os.path.getsize(path) if os.path.exists(path) else 0
    end = reg.end_line(os.getpid()).encode()

    def dumped() -> bool:
        try:
            with open(path, "rb") as f:
                f.seek(start)
                return end in f.read()
        except FileNotFoundError:
            return False

    os.kill(os.getpid(), signal.SIGUSR1)
    with trio.fail_after(30):
        while not dumped():
            await trio.sleep(0)
    os.kill(os.getpid(), signal.SIGKILL)


async def span_then_wait() -> AsyncIterator[int]:
    """An ended span still in the batch queue, then a long wait: SIGTERM ends it.
    Yields this process's pid once the span has ended (the caller may signal it)."""
    import trio

    with events.span("test.before_sigterm"):
        pass
    yield os.getpid()
    await trio.sleep_forever()
