"""Three children pause and one crashes, all at once: the REPLs come strictly one
at a time, each banner naming its actor."""

import time

import trio

import devx


async def pause_once(at: float) -> str:
    await trio.sleep(max(0.0, at - time.time()))
    await devx.pause()
    return devx.current_actor().name


async def crash(at: float) -> None:
    await trio.sleep(max(0.0, at - time.time()))
    raise RuntimeError("crasher went down")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        at = time.time() + 2.0  # everyone stops at the same moment
        for i in range(3):
            await an.run_in_actor(pause_once, name=f"pauser{i}", at=at)
        await an.run_in_actor(crash, name="crasher", at=at)


if __name__ == "__main__":
    trio.run(main)
