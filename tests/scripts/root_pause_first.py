"""A debug root pauses before its first spawn, with pdbp imported up front (as a
program that uses it itself would): its REPL blocks the root's loop within a few
milliseconds of the grant."""

import pdbp  # noqa: F401  (warm: the REPL opens at once)
import trio

import devx


async def main() -> None:
    async with devx.open_nursery(debug_mode=True):
        x = 1
        await devx.pause()
        y = x + 1
        print(f"root resumed, y={y}", flush=True)


if __name__ == "__main__":
    trio.run(main)
