"""A debug-mode child registers an atexit handler that calls breakpoint(): it runs
after the child's actor ended, when no lock can be taken for it."""

import atexit

import trio

import devx


def at_exit() -> None:
    where = "atexit"
    breakpoint()
    print(f"after the {where} breakpoint", flush=True)


async def register() -> str:
    atexit.register(at_exit)
    return "registered"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        print("kid", await portal.run(register), flush=True)
        await portal.cancel_actor()
    print("tree done", flush=True)


if __name__ == "__main__":
    trio.run(main)
