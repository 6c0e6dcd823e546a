"""A root whose block reads a line from stdin before its first spawn (sync: its loop
is blocked, as ``input()`` in a CLI would), then spawns one child, calls it and ends.
Prints ``BLOCKED`` before the read and ``RESULT 1`` after the call."""

import sys

import trio

import devx


def one() -> int:
    return 1


async def main() -> None:
    async with devx.open_nursery(name="blockedroot") as an:
        print("BLOCKED", flush=True)
        sys.stdin.readline()  # the loop is blocked until the test writes a line
        portal = await an.start_actor("w", enable_modules=[__name__])
        print("RESULT", await portal.run(one), flush=True)


if __name__ == "__main__":
    trio.run(main)
