"""A debug-mode child registers an atexit handler that calls breakpoint() (argv pdb:
pdb.set_trace()): it runs after the child's actor ended, when no lock is to be had."""

import atexit

import trio

import devx


def at_exit() -> None:
    where = "atexit"
    breakpoint()
    print(f"after the {where} breakpoint", flush=True)


def at_exit_pdb() -> None:
    import pdb

    pdb.set_trace()
    print("after the atexit pdb.set_trace()", flush=True)


async def register(way: str) -> str:
    atexit.register(at_exit_pdb if way == "pdb" else at_exit)
    return "registered"


async def main() -> None:
    import sys

    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        way = sys.argv[1] if len(sys.argv) > 1 else "breakpoint"
        print("kid", await portal.run(register, way=way), flush=True)
        await portal.cancel_actor()
    print("tree done", flush=True)


if __name__ == "__main__":
    trio.run(main)
