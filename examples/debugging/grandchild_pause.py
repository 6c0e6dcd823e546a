"""A grandchild pauses two nurseries down while its parent and the root wait on it:
ctrl-c must reach neither the middle actor (which does not hold the lock) nor the
root as a cancellation; the grandchild's REPL shields it."""

import trio

import devx


async def leaf_pauses() -> str:
    depth = len(devx.current_actor().path.split("/"))
    await devx.pause()
    return f"leaf resumed at depth {depth}"


async def middle() -> str:
    async with devx.open_nursery() as an:
        portal = await an.run_in_actor(leaf_pauses, name="leaf")
        return await portal.result()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(middle, name="middle")
        print(f"root got: {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
