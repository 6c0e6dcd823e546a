"""Three children pause and one crashes, all at once: the REPLs come strictly one
at a time, each banner naming its actor.

The children start one after the other, so they first meet at a barrier (a
directory each one marks). The crasher then waits for the root's word that the
three pauses are in the TTY lock's queue: its error, walked up to the root, tears
the tree down, and it must not overtake a pause still on its way.
"""

import os
import tempfile
from pathlib import Path

import trio

import devx
from devx.debug import lock

PAUSERS = 3


async def meet(barrier: str) -> None:
    """Mark this actor in the ``barrier`` directory, then wait until every child has."""
    Path(barrier, str(os.getpid())).touch()
    while sum(name.isdigit() for name in os.listdir(barrier)) < PAUSERS + 1:
        await trio.sleep(0.005)


async def pause_once(barrier: str) -> str:
    await meet(barrier)
    await devx.pause()
    return devx.current_actor().name


async def crash(barrier: str) -> None:
    await meet(barrier)
    while not os.path.exists(os.path.join(barrier, "go")):
        await trio.sleep(0.005)
    raise RuntimeError("crasher went down")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="devx-barrier-") as barrier:
        async with devx.open_nursery(debug_mode=True) as an:
            for i in range(PAUSERS):
                await an.run_in_actor(pause_once, name=f"pauser{i}", barrier=barrier)
            await an.run_in_actor(crash, name="crasher", barrier=barrier)
            tty = lock.root_lock()
            while tty.grants + len(tty.waiting) < PAUSERS:  # every pause asked for the TTY
                await trio.sleep(0.005)
            Path(barrier, "go").touch()


if __name__ == "__main__":
    trio.run(main)
