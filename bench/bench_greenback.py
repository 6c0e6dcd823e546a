"""What debug mode's greenback portals cost (not a test; run on its own).

A debug-mode actor gives every task that runs user code a greenback portal from its
start (``greenback.portals_for_tree()`` in src/devx/debug/boot.py), so that
``breakpoint()`` and ``pause_from_sync()`` can take the tree's TTY lock from sync
code. Measured here in one process, the same work without and with that context,
in interleaved rounds (a noisy neighbour hits both alike):

- spawn: start and finish a task that checkpoints once (``trio.sleep(0)``), per task;
  "bystander" is a task spawned into a nursery *outside* the portal tree while the
  instrument is installed (the runtime's own tasks: it only looks the parent up);
- step: one checkpoint of a task that already runs, per step;
- import: ``import greenback`` in a fresh interpreter that has trio already (paid
  once per debug-mode actor at boot), against ``import trio`` alone.

Medians over ROUNDS rounds, printed as a table.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import greenback
import trio

SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in (
    "",
    "0",
)  # make test: runs, measures nothing
ROUNDS = 1 if SMOKE else 9
TASKS = 20 if SMOKE else 2000
STEPS = 200 if SMOKE else 20000


async def _one_step() -> None:
    await trio.sleep(0)


async def spawn_tasks(n: int) -> float:
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(_one_step)
    return (time.perf_counter() - t0) / n


async def steps(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await trio.sleep(0)
    return (time.perf_counter() - t0) / n


async def in_tree(fn: Callable[[int], Awaitable[float]], n: int) -> float:
    """``fn`` in a task of the portal tree, as a debug-mode actor's user code runs."""
    async with greenback.portals_for_tree():
        async with trio.open_nursery() as nursery:
            out: list[float] = []

            async def run() -> None:
                out.append(await fn(n))

            nursery.start_soon(run)
        return out[0]


async def bystander(n: int) -> float:
    """Tasks outside the portal tree while its instrument is installed."""
    async with trio.open_nursery() as outer:
        out: list[float] = []

        async def run() -> None:
            out.append(await spawn_tasks(n))

        async with greenback.portals_for_tree():
            outer.start_soon(run)  # a nursery older than the tree: no portal
            while not out:
                await trio.sleep(0.001)
    return out[0]


def import_time(stmt: str) -> float:
    code = f"import time, trio; t0 = time.perf_counter(); {stmt}; print(time.perf_counter() - t0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


async def measure() -> dict[str, list[float]]:
    got: dict[str, list[float]] = {}
    cases: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("spawn, plain", lambda: spawn_tasks(TASKS)),
        ("spawn, portal", lambda: in_tree(spawn_tasks, TASKS)),
        ("spawn, bystander", lambda: bystander(TASKS)),
        ("step, plain", lambda: steps(STEPS)),
        ("step, portal", lambda: in_tree(steps, STEPS)),
    ]
    for r in range(ROUNDS):
        for name, case in cases[r % len(cases) :] + cases[: r % len(cases)]:
            got.setdefault(name, []).append(await case())
    return got


def main() -> None:
    got = trio.run(measure)
    for stmt, name in (("pass", "import, trio only"), ("import greenback", "import greenback")):
        got[name] = [import_time(stmt) for _ in range(ROUNDS)]
    med = {k: statistics.median(v) for k, v in got.items()}
    print(f"python {sys.version.split()[0]}, greenback {greenback.__version__}, rounds {ROUNDS}")
    print(f"{'case':<20}{'median':>12}{'vs floor':>12}")
    floors = {"spawn": "spawn, plain", "step": "step, plain", "import": "import, trio only"}
    for name, value in med.items():
        floor = med[floors[name.split(",")[0].split()[0]]]
        extra = "" if name in floors.values() else f"+{(value - floor) * 1e6:.2f} us"
        print(f"{name:<20}{value * 1e6:>9.2f} us{extra:>12}")


if __name__ == "__main__":
    main()
