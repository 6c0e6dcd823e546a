"""Three children pause and one crashes, all at once: the REPLs come strictly one
at a time, each banner naming its actor."""

import os
import tempfile
from pathlib import Path

import trio

import devx

PARTIES = 4


async def meet(barrier: str) -> None:
    """Mark this actor in the ``barrier`` directory, then wait until every party has:
    everyone stops at the same moment, however long each took to start."""
    Path(barrier, str(os.getpid())).touch()
    while len(os.listdir(barrier)) < PARTIES:
        await trio.sleep(0.01)


async def pause_once(barrier: str) -> str:
    await meet(barrier)
    await devx.pause()
    return devx.current_actor().name


async def crash(barrier: str) -> None:
    await meet(barrier)
    raise RuntimeError("crasher went down")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="devx-barrier-") as barrier:
        async with devx.open_nursery(debug_mode=True) as an:
            for i in range(PARTIES - 1):
                await an.run_in_actor(pause_once, name=f"pauser{i}", barrier=barrier)
            await an.run_in_actor(crash, name="crasher", barrier=barrier)


if __name__ == "__main__":
    trio.run(main)
