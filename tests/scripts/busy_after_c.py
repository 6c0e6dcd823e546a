"""Two children pause at once; after its REPL each runs sync code that never yields to
its loop until a marker file exists (``argv[1]``), which the test creates only once
the other child's REPL is up: the terminal must pass on at ``c``, not at the next
checkpoint of the code after it (tests/test_debugger.py)."""

import os
import sys
import termios
import time

import trio

import devx

BOUND_S = 60.0  # a hang is the test's failure: its own timeout reports it first


async def pause_then_compute(marker: str) -> str:
    name = devx.current_actor().name
    await devx.pause()
    deadline = time.monotonic() + BOUND_S
    while not os.path.exists(marker):  # sync work: this actor's loop never runs meanwhile
        if time.monotonic() > deadline:
            return f"{name}: no marker after {BOUND_S} s"
        time.sleep(0.01)
    return f"{name} done"


async def main(marker: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [await an.start_actor(n, enable_modules=[__name__]) for n in ("a", "b")]
        results: list[str] = []

        async def run(portal: devx.Portal) -> None:
            results.append(await portal.run(pause_then_compute, marker=marker))

        async with trio.open_nursery() as n:
            for portal in portals:
                n.start_soon(run, portal)
        print(f"results: {' / '.join(sorted(results))}", flush=True)
        await an.cancel()
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
