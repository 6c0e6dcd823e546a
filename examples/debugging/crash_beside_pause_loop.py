"""A crash walked up a nested tree while a sibling pauses in a loop (the peer
project's multi_subactors.py): 'middle' gets its crash REPL on the error of its
child 'leaf' although the terminal is never quiet for long ('looper' pauses again
0.05 s after each `c`); `q` in 'looper' ends the tree."""

import trio

import devx


async def looper() -> None:
    while True:
        await trio.sleep(0.05)
        await devx.pause()


async def fail() -> None:
    raise NameError("leaf failed on purpose")


async def middle() -> None:
    async with devx.open_nursery() as an:
        portal = await an.run_in_actor(fail, name="leaf")
        await portal.result()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(looper, name="looper")
        await an.run_in_actor(middle, name="middle")


if __name__ == "__main__":
    trio.run(main)
