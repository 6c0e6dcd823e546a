"""Three children pause at once: one REPL at a time, and the queue is visible. The
grant banner lists who waits (tree path, why, file:line, for how long), the REPL
command ``waiters`` shows the live queue, and ``devx ps`` in another shell shows
the holder and the waiters of this tree.

    python examples/debugging/queue_three.py      # then `waiters`, `c`, ...
"""

import sys
import termios

import trio

import devx


async def pause_here(k: int) -> int:
    doubled = k * 2
    await devx.pause()
    doubled += 1
    return doubled


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [await an.run_in_actor(pause_here, name=f"p{k}", k=k) for k in range(3)]
        results = [await p.result() for p in portals]
        print(f"results {results}", flush=True)
    if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main)
