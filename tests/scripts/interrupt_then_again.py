"""A program that catches the KeyboardInterrupt of a tree stopped by ctrl-c and goes
on: plain sync code, then a second tree; ctrl-c must work in both.

    python interrupt_then_again.py
"""

import os
import sys
import time

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def tree(tag: str) -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("a", enable_modules=["fns"])
        print(tag, "READY", await portal.run(fns.my_pid), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(tree, "FIRST")
    except KeyboardInterrupt:
        print("FIRST INTERRUPTED", flush=True)
    try:
        print("SYNC READY", flush=True)
        time.sleep(60)
        print("SYNC NOT INTERRUPTED", flush=True)
    except KeyboardInterrupt:
        print("SYNC INTERRUPTED", flush=True)
    trio.run(tree, "SECOND")
