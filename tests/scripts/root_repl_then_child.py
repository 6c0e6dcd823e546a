"""A child asks for the terminal while the root's own REPL is live (the root's loop
blocked in it, the request unread in its socket); the root's code goes on from `c`
straight to its next pause. The child asked first, so its REPL comes first.

    python root_repl_then_child.py GO     # GO: a FIFO; the child asks once it is written
"""

import functools
import sys

import trio
import trio.testing
from _terminal_state import print_terminal_state

import devx


def _read(path: str) -> str:
    with open(path) as f:  # a FIFO: returns once written and closed
        return f.read()


async def stop_here() -> None:
    await devx.pause()
    print("asker goes on", flush=True)


async def ask(go: str) -> None:
    """In the child: pause once told to; say so once the request is on its way."""
    await trio.to_thread.run_sync(_read, go)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_here)
        # every task of this actor blocked: the pause waits for its grant, its
        # request sent to the root
        await trio.testing.wait_all_tasks_blocked()
        print("asker asked", flush=True)


async def main(go: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("asker", enable_modules=[__name__])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(portal.run, ask, go=go))
            turn = 1
            await devx.pause()  # the child asks while this REPL is live
            turn = 2
            await devx.pause()  # asked right after `c`: after the child
            print(f"root goes on after turn {turn}", flush=True)
        await an.cancel()
    print_terminal_state()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
