"""The terminal held from user code by a task that holds it already: `n` over
`acquire_debug_lock()` from the REPL keeps the REPL, a block inside another of the
same task shares its hold, and a pause inside a block opens its REPL on it."""

import trio

import devx
from devx.debug import acquire_debug_lock


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        await devx.pause()
        async with acquire_debug_lock() as hold:
            print(f"report under hold {hold}", flush=True)
        async with acquire_debug_lock() as outer:
            async with acquire_debug_lock() as inner:
                print(f"nested holds {outer} {inner}", flush=True)
            await devx.pause()
            print("after the pause in the block", flush=True)
        print("all done", flush=True)


if __name__ == "__main__":
    trio.run(main)
