"""Two children pause in a loop, each going on from `c` straight to its next pause:
the terminal goes back and forth between them, one REPL at a time. What a child
prints after `c` comes before the other's banner, and that banner lists the child
that just continued, already waiting again (its request carried the release).

    python examples/debugging/pause_loops.py 3      # then `c`, `n`, `p turn`, ...
"""

import functools
import sys
import termios

import trio

import devx


async def pause_loop(turns: int) -> int:
    name = devx.current_actor().name
    for turn in range(turns):
        await devx.pause()
        print(f"{name} goes on after turn {turn}", flush=True)
    return turns


async def main(turns: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [await an.start_actor(f"p{i}", enable_modules=[__name__]) for i in range(2)]
        async with trio.open_nursery() as nursery:
            for portal in portals:
                nursery.start_soon(functools.partial(portal.run, pause_loop, turns=turns))
        print("both loops done", flush=True)
        await an.cancel()
    if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 3)
