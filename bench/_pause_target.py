"""Target of bench_pause.py: children that pause in a loop, printing when they do."""

from __future__ import annotations

import sys
import time

import trio

import devx


async def pause_loop(turns: int) -> None:
    name = devx.current_actor().name
    for _ in range(turns):
        print(f"T0 {name} {time.time():.6f}", flush=True)
        await devx.pause()


async def main(children: int, turns: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        for i in range(children):
            await an.run_in_actor(pause_loop, name=f"p{i}", turns=turns)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), int(sys.argv[2]))
