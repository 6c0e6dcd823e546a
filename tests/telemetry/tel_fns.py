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


async def boom() -> None:
    raise ZeroDivisionError("boom in the child")


async def dump_then_die() -> None:
    """A stack dump record must be on disk before the process dies by SIGKILL."""
    events.event("devx.stack_dump", signal="SIGUSR1", task_count=3, text="fake dump")
    os.kill(os.getpid(), signal.SIGKILL)


async def span_then_wait() -> AsyncIterator[int]:
    """An ended span still in the batch queue, then a long wait: SIGTERM ends it.
    Yields this process's pid once the span has ended (the caller may signal it)."""
    import trio

    with events.span("test.before_sigterm"):
        pass
    yield os.getpid()
    await trio.sleep_forever()
