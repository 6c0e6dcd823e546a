"""ctrl-c while no prompt is on screen and the tree waits on the terminal: the root's
REPL steps (`n`) over sync code that blocks its loop (until a file shows up), while
a child waits for the terminal. A ctrl-c then says what the tree waits for (one
line); three within 2 s end the tree as one ctrl-c with no REPL would.

    python examples/debugging/door_blocked_step.py GO_FILE
"""

import os
import sys
import termios
import time

import trio

import devx
from devx.debug import tree_lock


def block_until(path: str) -> None:
    print("root blocks its loop", flush=True)
    while not os.path.exists(path):
        time.sleep(0.02)


async def wait_and_pause() -> str:
    while True:  # queue behind the root's REPL
        holder = tree_lock.view.state.holder
        if holder is not None and holder.name == "root":
            break
        await trio.sleep(0.01)
    await devx.pause()
    return "waiter done"


async def main(go: str) -> None:
    try:
        async with devx.open_nursery(debug_mode=True) as an:
            portal = await an.start_actor("waiter", enable_modules=["__main__"])
            async with trio.open_nursery() as nursery:

                async def wait() -> None:
                    print(await portal.run(wait_and_pause), flush=True)

                nursery.start_soon(wait)
                await devx.pause()
                block_until(go)
                print("root unblocked", flush=True)
            await an.cancel()
    finally:
        if sys.stdin.isatty():
            lflag = termios.tcgetattr(sys.stdin)[3]
            echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
            print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
