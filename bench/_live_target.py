"""Target of bench_live_telemetry.py: a child that pauses at once (``pause``), or a
tree of N actors that hangs until killed, dumps enabled (``hang N``)."""

from __future__ import annotations

import os
import sys

import trio

import devx


async def pause_now() -> None:
    await devx.pause()


async def sleep_forever() -> None:
    await trio.sleep_forever()


async def main(mode: str, n: int) -> None:
    if mode == "pause":
        async with devx.open_nursery(debug_mode=True) as an:
            await an.run_in_actor(pause_now, name="pauser")
        return
    async with devx.open_nursery(enable_stack_on_sig=True) as an:
        portals = [await an.start_actor(f"a{i}", enable_modules=[__name__]) for i in range(n - 1)]
        async with trio.open_nursery() as tasks:
            for portal in portals:
                tasks.start_soon(portal.run, sleep_forever)
            print(f"READY {os.getpid()}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
