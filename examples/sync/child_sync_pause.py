"""A child's RPC task calls sync code that pauses (greenback portal per task)."""

import trio

import devx


def crunch(n: int) -> int:
    total = sum(range(n))
    devx.pause_from_sync()
    return total + 1


async def worker(n: int) -> int:
    await trio.sleep(0)
    return crunch(n)


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(worker, name="cruncher", n=4)
        print(f"child returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
