"""Target of bench_pause.py: children that pause in a loop, printing when they do."""

from __future__ import annotations

import functools
import sys
import time

import trio

import devx


async def pause_loop(turns: int, stamp: bool = True) -> None:
    """``stamp``: print when each pause starts (the pause -> prompt row); a hand-off
    times from the ``c`` typed and needs none."""
    name = devx.current_actor().name
    for _ in range(turns):
        if stamp:
            print(f"T0 {name} {time.time():.6f}", flush=True)
        await devx.pause()


async def plain_loop(turns: int) -> None:
    """The floor: a bare pdbp REPL in a plain trio process (no actor, no lock, no
    banner), stopped the way a user's own ``pdbp.set_trace()`` stops."""
    import pdbp

    for _ in range(turns):
        print(f"T0 plain {time.time():.6f}", flush=True)
        pdbp.set_trace()
        await trio.sleep(0)


async def main(children: int, turns: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        # every child is up before any pauses, so that with two of them each release
        # hands the lock to the other one, who is already queued (a real hand-off)
        portals = [
            await an.start_actor(f"p{i}", enable_modules=[__name__]) for i in range(children)
        ]
        async with trio.open_nursery() as n:
            for portal in portals:
                run = functools.partial(portal.run, pause_loop, turns=turns, stamp=children == 1)
                n.start_soon(run)
        await an.cancel()


if __name__ == "__main__":
    if sys.argv[1] == "plain":
        trio.run(plain_loop, int(sys.argv[2]))
    else:
        trio.run(main, int(sys.argv[1]), int(sys.argv[2]))
