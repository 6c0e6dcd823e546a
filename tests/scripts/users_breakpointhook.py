"""A program that sets its own ``sys.breakpointhook`` at its top level, then runs a
debug tree whose child (loading this script) and root each call ``breakpoint()``."""

import os
import sys

import trio

import devx


def myhook(*args: object, **kwargs: object) -> None:
    print(f"myhook called in pid {os.getpid()}", flush=True)


sys.breakpointhook = myhook


def work(who: str) -> str:
    breakpoint()
    return f"{who} done"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("c1", enable_modules=["__main__"])
        print(work("root"), flush=True)
        print(await portal.run(work, who="c1"), flush=True)
        await an.cancel()


if __name__ == "__main__":
    trio.run(main)
