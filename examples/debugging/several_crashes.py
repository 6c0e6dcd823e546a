"""Three one-shot children fail, each at once, while the root still spawns the next:
each gets its crash REPL (one at a time, under the tree's lock), then the root gets
one on the group of all three errors, which is what the program raises.

A failing `run_in_actor` child never cancels its `run_in_actor` siblings, so no
error is lost (the peer project's rule; README "Errors and teardown").
"""

import atexit
import sys
import termios

import trio

import devx

CHILDREN = 3


async def check(n: int) -> None:
    expected = n + 1
    assert n == expected, f"check {n} failed"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        for n in range(CHILDREN):
            await an.run_in_actor(check, name=f"checker{n}", n=n)


def terminal_state() -> None:  # what the terminal was left in, as `stty -a` would say
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    atexit.register(terminal_state)  # runs after the error or the last line
    trio.run(main)
