"""Actor spawn-to-ready latency against the floor for any trio process.

Floor: ``python -c "import trio; trio.run(...)"`` run to completion. devx: from
``an.start_actor()`` to the portal being usable (the child imported trio and devx,
connected back, authenticated and reported ready). Median of N runs, printed with
the ratio (target: <= 1.3x).
"""

from __future__ import annotations

import statistics
import sys
import time

import trio

import devx

N = 15


async def floor_once() -> float:
    t0 = time.perf_counter()
    await trio.run_process([sys.executable, "-c", "import trio; trio.run(trio.sleep, 0)"])
    return time.perf_counter() - t0


async def spawn_once(an: devx.ActorNursery, i: int) -> float:
    t0 = time.perf_counter()
    portal = await an.start_actor(f"b{i}")
    dt = time.perf_counter() - t0
    await portal.cancel_actor()
    return dt


async def main() -> None:
    floor = [await floor_once() for _ in range(N)]
    async with devx.open_nursery(name="bench") as an:
        await spawn_once(an, -1)  # warm the page cache
        spawn = [await spawn_once(an, i) for i in range(N)]
    f, s = statistics.median(floor), statistics.median(spawn)
    print(f"trio process floor : {f * 1e3:7.1f} ms (median of {N})")
    print(f"devx spawn-to-ready: {s * 1e3:7.1f} ms (median of {N})")
    print(f"ratio              : {s / f:7.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    trio.run(main)
