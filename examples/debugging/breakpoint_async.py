"""The builtin ``breakpoint()`` in an ordinary async function, with only
``debug_mode=True`` (no greenback opt-in): a locked REPL at the breakpoint's line,
in a child or in the root; ``sync`` pauses from sync code a task calls instead.

    python examples/debugging/breakpoint_async.py [child|root|sync]
"""

import sys
import termios

import trio

import devx


async def tally(count: int) -> int:
    total = sum(range(count))
    await trio.sleep(0)
    breakpoint()  # a locked devx REPL on this line; `n`: `total += 1`
    total += 1
    return total


def scale(x: int) -> int:
    doubled = x * 2
    devx.pause_from_sync()  # sync code called by a task: no opt-in either
    return doubled + 1


async def scaler(x: int) -> int:
    await trio.sleep(0)
    return scale(x)


async def main(where: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            total = await tally(4)
        elif where == "sync":
            portal = await an.run_in_actor(scaler, name="scaler", x=20)
            total = await portal.result()
        else:
            portal = await an.run_in_actor(tally, name="tally", count=4)
            total = await portal.result()
        print(f"result {total}", flush=True)
    if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "child")
