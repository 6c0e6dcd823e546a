"""A child pauses in a loop; step with `n`, resume with `c`, pause again next turn."""

import trio

import devx


async def loop_and_pause(turns: int) -> int:
    total = 0
    for i in range(turns):
        await devx.pause()
        total += i
        await trio.sleep(0)
    return total


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(loop_and_pause, name="looper", turns=2)
        print(f"child returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
