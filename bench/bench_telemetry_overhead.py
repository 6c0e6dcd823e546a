"""Benchmark (not a test): the cost of telemetry on a call-heavy workload.

``portal.run(noop)`` in a loop, in fresh processes, alternating telemetry on (the
embedded file exporter, the default) and ``OTEL_SDK_DISABLED=true``. Two numbers:

* steady state: after a 0.5 s warm-up, i.e. once each actor's background SDK load is
  done; the per-call cost of telemetry itself (target: < 5 % overhead);
* cold: the first N calls right after the child is ready, which also pays the one-time
  background load of the SDK/structlog (~40 ms of CPU per process, off the spawn path).

Run: ``python bench/bench_telemetry_overhead.py [rounds]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import trio

import devx
from devx.runtime import hooks

N = 3000
hooks.register("devx.telemetry.boot:actor_lifetime")


def noop() -> None:
    return None


async def workload() -> tuple[float, float]:
    async with devx.open_nursery(name="bench") as an:
        portal = await an.start_actor("echo", enable_modules=[__name__])
        t0 = time.perf_counter()
        for _ in range(N):
            await portal.run(noop)
        cold = (time.perf_counter() - t0) / N
        await trio.sleep(0.5)
        for _ in range(300):
            await portal.run(noop)
        t0 = time.perf_counter()
        for _ in range(N):
            await portal.run(noop)
        warm = (time.perf_counter() - t0) / N
        await portal.cancel_actor()
    return cold, warm


def run(disabled: bool, tmp: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    env.update(DEVX_TELEMETRY_FILE=os.path.join(tmp, "b.otlp.jsonl"), DEVX_TELEMETRY_QUIET="1")
    if disabled:
        env["OTEL_SDK_DISABLED"] = "true"
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
    )
    cold, warm = out.stdout.split()[-2:]
    return float(cold), float(warm)


def main(rounds: int) -> None:
    on: list[tuple[float, float]] = []
    off: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            off.append(run(True, tmp))
            on.append(run(False, tmp))
    for i, label in ((1, "steady state"), (0, "cold (first calls)")):
        a = statistics.median(x[i] for x in on)
        b = statistics.median(x[i] for x in off)
        print(
            f"{label:19s}: on {a * 1e6:6.1f} us/call, OTEL_SDK_DISABLED {b * 1e6:6.1f} us/call, "
            f"ratio {a / b:.3f}x"
        )
    print(f"(median of {rounds} runs x {N} calls; target: steady-state overhead < 5 %)")


if __name__ == "__main__":
    if "--child" in sys.argv:
        cold, warm = trio.run(workload)
        print(cold, warm)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
