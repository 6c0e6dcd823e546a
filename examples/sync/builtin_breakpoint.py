"""The builtin breakpoint() in a debug-mode child lands in the devx REPL; the
previous hook is back once the tree has exited."""

import sys

import trio

import devx


async def stopper() -> str:
    word = "ni"
    breakpoint()  # remapped to devx.pause_from_sync() in debug mode
    return word * 2


async def main() -> None:
    before = sys.breakpointhook
    async with devx.open_nursery(debug_mode=True) as an:
        print(f"hook remapped in the root: {sys.breakpointhook is not before}", flush=True)
        portal = await an.run_in_actor(stopper, name="stopper")
        print(f"child returned {await portal.result()}", flush=True)
    print(f"hook restored: {sys.breakpointhook is before}", flush=True)


if __name__ == "__main__":
    trio.run(main)
