"""Step (`n`) in the root actor's REPL into code that raises: the crash's REPL says
CRASH, not the PAUSE the stepping started from.

    python examples/debugging/root_step_into_crash.py      # then `n` until the crash
"""

import sys
import termios

import trio

import devx


def share(total: int, parts: int) -> int:
    return total // parts


async def main() -> None:
    try:
        async with devx.open_nursery(debug_mode=True):
            total = 41
            await devx.pause()
            total += 1
            print(f"each gets {share(total, 0)}", flush=True)
    finally:
        if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
            lflag = termios.tcgetattr(sys.stdin)[3]
            echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
            print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main)
