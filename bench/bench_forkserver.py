"""Spawn with the fork server against the subprocess backend and the floor, one run,
interleaved (each sample in a fresh process, the kinds taking turns), medians.

- floor: a trio parent starts a child that imports trio, answers one request over a
  pipe and exits; from the start to the child's exit (32: all at once).
- 1 actor, cold: ``open_nursery(spawn_method=M)`` -> ``start_actor`` -> first
  ``portal.run`` -> leaving the block, in a fresh process (the root's open and, for
  the fork server, its zygote's boot included).
- 1 actor, warm: the same on a root that is already open (its zygote booted): what a
  tree pays for each further actor.
- 32 actors: all started at once, each answers a first call, then the block is left;
  cold (root open included) and warm.

Targets (issue 14): fork server 1 actor <= 0.5x the floor; 32 actors ready and torn
down < 1.5 s. Telemetry at its default (the embedded file exporter) unless
``--telemetry off``.

    python bench/bench_forkserver.py [--rounds N] [--telemetry off]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import trio
from bench_spawn import floor_child  # the same floor as make bench: a trio child, os._exit

SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in (
    "",
    "0",
)  # make test: runs, measures nothing
MANY = 4 if SMOKE else 32
WARM_SAMPLES = 1 if SMOKE else 5


def noop() -> None:
    return None


async def floor(n: int) -> list[float]:
    t0 = time.perf_counter()
    async with trio.open_nursery() as tn:
        for _ in range(n):
            tn.start_soon(floor_child)
    return [time.perf_counter() - t0]


async def actors(an, n: int) -> None:  # type: ignore[no-untyped-def]
    async def one(i: int) -> None:
        portal = await an.start_actor(f"a{i}", enable_modules=[__name__])
        await portal.run(noop)

    async with trio.open_nursery() as tn:
        for i in range(n):
            tn.start_soon(one, i)


async def cold(method: str, n: int, telemetry: str | None) -> list[float]:
    import devx

    kw = {} if telemetry is None else {"telemetry": telemetry}
    t0 = time.perf_counter()
    async with devx.open_nursery(name="bench", spawn_method=method, **kw) as an:
        await actors(an, n)
    return [time.perf_counter() - t0]


async def warm(method: str, n: int, telemetry: str | None) -> list[float]:
    import devx

    kw = {} if telemetry is None else {"telemetry": telemetry}
    out = []
    async with devx.open_root_actor(name="bench", spawn_method=method, **kw):
        async with devx.open_nursery() as an:  # boots the zygote, warms the caches
            await actors(an, 1)
        for _ in range(WARM_SAMPLES if n == 1 else 2):
            t0 = time.perf_counter()
            async with devx.open_nursery() as an:
                await actors(an, n)
            out.append(time.perf_counter() - t0)
    return out


def sample(kind: str, method: str, n: int, telemetry: str | None) -> None:
    fn = {"floor": floor, "cold": cold, "warm": warm}[kind]
    args = (n,) if kind == "floor" else (method, n, telemetry)
    print(json.dumps(trio.run(fn, *args)))


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--telemetry", default=None, help='e.g. "off" (default: the file)')
    args = p.parse_args()
    tel = [args.telemetry] if args.telemetry else []
    # as an installed package is: byte-compiled (with PYTHONDONTWRITEBYTECODE set, each
    # fresh interpreter, a subprocess actor or a zygote, would compile devx again)
    import compileall
    from pathlib import Path

    import devx

    compileall.compile_dir(str(Path(devx.__file__).parent), quiet=1)
    kinds = [
        ("floor", "-", 1),
        ("cold", "subprocess", 1),
        ("cold", "forkserver", 1),
        ("warm", "subprocess", 1),
        ("warm", "forkserver", 1),
        ("floor", "-", MANY),
        ("cold", "subprocess", MANY),
        ("cold", "forkserver", MANY),
        ("warm", "forkserver", MANY),
    ]
    got: dict[tuple[str, str, int], list[float]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind, method, n in kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--sample", kind, method, str(n), *tel],
                capture_output=True,
                text=True,
                check=True,
            )
            got[(kind, method, n)].extend(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(v) for k, v in got.items()}
    one_floor, many_floor = med[("floor", "-", 1)], med[("floor", "-", MANY)]
    print(f"medians of {args.rounds} interleaved rounds; telemetry={args.telemetry or 'default'}")
    print(f"{'what':46} {'ms':>8} {'/ floor':>8}")
    for (kind, method, n), value in med.items():
        base = one_floor if n == 1 else many_floor
        label = f"{n} actor{'s' if n > 1 else ''}, {kind}, {method}"
        if kind == "floor":
            label = f"floor: {n} trio child{'ren' if n > 1 else ''} (pipe answer, exit)"
        print(f"{label:46} {value * 1e3:8.1f} {value / base:7.2f}x")
    fork_one = med[("warm", "forkserver", 1)] / one_floor
    print(
        f"target: fork server 1 actor <= 0.5x floor: warm {fork_one:.2f}x, "
        f"cold {med[('cold', 'forkserver', 1)] / one_floor:.2f}x"
    )
    print(
        f"target: {MANY} actors < 1.5 s: cold {med[('cold', 'forkserver', MANY)]:.2f} s, "
        f"warm {med[('warm', 'forkserver', MANY)]:.2f} s"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sample"]:
        kind, method, n, *rest = sys.argv[2:]
        sample(kind, method, int(n), rest[0] if rest else None)
    else:
        main()
