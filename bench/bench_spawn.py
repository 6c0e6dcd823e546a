"""Actor spawn as a user sees it, against the floor of plain trio processes.

- 1 actor: ``open_nursery`` -> ``start_actor`` -> first ``portal.run`` -> leaving the
  block (teardown), telemetry at its default (the embedded file exporter), in a fresh
  process; also the teardown part alone and the same with ``telemetry="off"``.
  Floor: the parent (in trio) starts a child that imports trio, answers one request
  over a pipe and exits; from the start to the child's exit.
- 32 actors: all started at once, each answers a first call, then the block is left;
  floor: 32 such children at once.
- fork server: the same with the default backend (the fork server on Linux; another
  with ``DEVX_SPAWN_METHOD``, n/a when it is ``subprocess``); also a root opened alone
  (``open_root_actor``) and closed without spawning: its wall time and its CPU time,
  its children's included (a zygote it started for nothing would show); and one
  opened alone that then spawns 1 actor: open -> first call (its zygote starts on
  that spawn); and a tree's second actor, started once the first answered.

Targets: 1 actor <= 1.2x the floor (subprocess backend); with the fork server, a
tree's first actor no dearer than with subprocesses (its zygote starts with the tree:
it boots as a subprocess child would, then forks) and every later one <= 0.5x the
floor (``second``: start -> first call -> cancel once the first answered); 32 actors
ready and torn down <= 0.3x the floor with it.

    python bench/bench_spawn.py [--spawn-method NAME]     # BENCH_QUICK=1: a smoke run
"""

from __future__ import annotations

import os
import sys
import time

import trio

SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in (
    "",
    "0",
)  # make test: runs, measures nothing
MANY = 4 if SMOKE else 32

# the floor child exits the way a devx child does (os._exit once its work is done:
# no interpreter finalization), so that teardown compares like with like
FLOOR_CHILD = """\
import os, trio
async def main():
    stdin, stdout = trio.lowlevel.FdStream(0), trio.lowlevel.FdStream(1)
    req = b""
    while not req.endswith(b"\\n"):
        req += await stdin.receive_some(4096)
    await stdout.send_all(b"ok " + req)
trio.run(main)
os._exit(0)
"""


def noop() -> None:
    return None


# --- samples (each in a fresh process) ------------------------------------------------


async def floor_child() -> float:
    """Start the floor child, ask, read the answer; returns when it answered."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-c", FLOOR_CHILD], stdin=-1, stdout=-1
    )
    await proc.stdin.send_all(b"ping\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = await proc.stdout.receive_some(4096)
        if not chunk:
            raise RuntimeError(f"floor child exited early: {reply!r}")
        reply += chunk
    answered = time.perf_counter()
    await proc.wait()
    return answered


async def floor_one() -> dict[str, float]:
    t0 = time.perf_counter()
    answered = await floor_child()
    t1 = time.perf_counter()
    return {"total": t1 - t0, "spawn": answered - t0, "teardown": t1 - answered}


async def floor_many(n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    answered: list[float] = []

    async def one() -> None:
        answered.append(await floor_child())

    async with trio.open_nursery() as tn:
        for _ in range(n):
            tn.start_soon(one)
    t1 = time.perf_counter()
    return {"total": t1 - t0, "ready": max(answered) - t0}


async def devx_one(telemetry: str | None) -> dict[str, float]:
    import devx

    kw = {} if telemetry is None else {"telemetry": telemetry}
    t0 = time.perf_counter()
    async with devx.open_nursery(name="bench", **kw) as an:
        portal = await an.start_actor("a", enable_modules=[__name__])
        await portal.run(noop)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    return {"total": t2 - t0, "spawn": t1 - t0, "teardown": t2 - t1}


async def devx_many(n: int) -> dict[str, float]:
    import devx

    t0 = time.perf_counter()
    async with devx.open_nursery(name="bench") as an:

        async def one(i: int) -> None:
            portal = await an.start_actor(f"a{i}", enable_modules=[__name__])
            await portal.run(noop)

        async with trio.open_nursery() as tn:
            for i in range(n):
                tn.start_soon(one, i)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    return {"total": t2 - t0, "ready": t1 - t0, "teardown": t2 - t1}


def _cpu() -> float:
    """CPU seconds of this process and of its reaped children."""
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def devx_idle() -> dict[str, float]:
    import devx

    c0, t0 = _cpu(), time.perf_counter()
    async with devx.open_root_actor(name="bench"):
        pass
    return {"total": time.perf_counter() - t0, "cpu": _cpu() - c0}


async def devx_root_first() -> dict[str, float]:
    import devx

    t0 = time.perf_counter()
    async with devx.open_root_actor(name="bench"), devx.open_nursery() as an:
        portal = await an.start_actor("a", enable_modules=[__name__])
        await portal.run(noop)
        t1 = time.perf_counter()
    return {"spawn": t1 - t0, "total": time.perf_counter() - t0}


async def devx_second() -> dict[str, float]:
    """A tree's second actor: once the first answered (and, with the fork server, its
    zygote is up), another is started, answers a first call and is cancelled
    (``cancel_actor`` returns once its process is gone)."""
    import devx

    async with devx.open_nursery(name="bench") as an:
        first = await an.start_actor("a", enable_modules=[__name__])
        await first.run(noop)
        t0 = time.perf_counter()
        portal = await an.start_actor("b", enable_modules=[__name__])
        await portal.run(noop)
        t1 = time.perf_counter()
        await portal.cancel_actor()
        t2 = time.perf_counter()
    return {"total": t2 - t0, "spawn": t1 - t0, "teardown": t2 - t1}


def sample(argv: list[str]) -> None:
    from common import emit

    what, *rest = argv
    if what == "floor-one":
        emit(trio.run(floor_one))
    elif what == "one":
        emit(trio.run(devx_one, rest[0] if rest else None))
    elif what == "idle":
        emit(trio.run(devx_idle))
    elif what == "root-first":
        emit(trio.run(devx_root_first))
    elif what == "second":
        emit(trio.run(devx_second))
    elif what == "floor-many":
        emit(trio.run(floor_many, int(rest[0])))
    elif what == "many":
        emit(trio.run(devx_many, int(rest[0])))
    else:
        sys.exit(f"unknown sample {what!r}")


# --- rows -----------------------------------------------------------------------------


def phases() -> list:
    from common import Phase, Row, Target, fork_method, quick, sample_kind

    fm = fork_method()
    fork = f"fork server{f' ({fm})' if fm else ''}"
    na = None if fm else "fork server: not measured (DEVX_SPAWN_METHOD=subprocess, or not Linux)"
    one = [
        sample_kind("one.floor", "bench_spawn.py", "floor-one"),
        sample_kind("one.devx", "bench_spawn.py", "one"),
        sample_kind("one.off", "bench_spawn.py", "one", "off"),
    ]
    many = [
        sample_kind("many.floor", "bench_spawn.py", "floor-many", str(MANY)),
        sample_kind("many.devx", "bench_spawn.py", "many", str(MANY)),
    ]
    if fm:
        one.append(sample_kind("one.fork", "bench_spawn.py", "one", DEVX_SPAWN_METHOD=fm))
        one.append(sample_kind("idle.fork", "bench_spawn.py", "idle", DEVX_SPAWN_METHOD=fm))
        one.append(sample_kind("first.fork", "bench_spawn.py", "root-first", DEVX_SPAWN_METHOD=fm))
        one.append(sample_kind("second.fork", "bench_spawn.py", "second", DEVX_SPAWN_METHOD=fm))
        many.append(
            sample_kind("many.fork", "bench_spawn.py", "many", str(MANY), DEVX_SPAWN_METHOD=fm)
        )
    ms = 1e3
    one_rows = [
        Row(
            "1 actor: open→first call→teardown",
            "ms",
            ("one.devx", "total"),
            ("one.floor", "total"),
            Target("ratio", "<=", 1.2),
            ms,
            note="subprocess backend, telemetry default (file); floor: trio child, pipe",
        ),
        Row(
            "  teardown part alone",
            "ms",
            ("one.devx", "teardown"),
            ("one.floor", "teardown"),
            Target("ratio", "<=", 1.5),
            ms,
            note="floor: waiting for the answered child to exit",
        ),
        Row(
            '1 actor, telemetry="off"', "ms", ("one.off", "total"), ("one.floor", "total"), scale=ms
        ),
        Row(
            '  teardown part alone, telemetry="off"',
            "ms",
            ("one.off", "teardown"),
            ("one.floor", "teardown"),
            scale=ms,
        ),
        Row(
            f"1 actor, {fork}: a tree's first",
            "ms",
            ("one.fork", "total"),
            ("one.floor", "total"),
            scale=ms,
            na=na,
            note="its zygote starts before the root opens, imports what a child does, forks it",
        ),
        Row(
            "  the same against the subprocess backend",
            "ms",
            ("one.fork", "total"),
            ("one.devx", "total"),
            Target("ratio", "<=", 1.0),
            ms,
            na=na,
            note="the default must not cost a one-actor tree more than subprocesses",
        ),
        Row(
            f"a tree's next actor, {fork}",
            "ms",
            ("second.fork", "total"),
            ("one.floor", "total"),
            Target("ratio", "<=", 0.5),
            ms,
            na=na,
            note="zygote up: start_actor→first call→cancel_actor (issue 14's target)",
        ),
    ]
    one_rows += [
        Row(
            f"root opened + closed, no spawn, {fork}",
            "ms",
            ("idle.fork", "total"),
            scale=ms,
            na=na,
            note="open_root_actor alone",
        ),
        Row(
            "  its CPU, children's included",
            "ms",
            ("idle.fork", "cpu"),
            scale=ms,
            na=na,
            note="a zygote started for nothing would show here",
        ),
        Row(
            f"1 actor, root opened first, {fork}: open→first call",
            "ms",
            ("first.fork", "spawn"),
            ("one.floor", "spawn"),
            scale=ms,
            na=na,
            note="open_root_actor, then open_nursery and the spawn",
        ),
    ]
    many_rows = [
        Row(
            f"{MANY} actors ready + torn down",
            "s",
            ("many.devx", "total"),
            ("many.floor", "total"),
            note=f"all {MANY} started at once, each answered a first call; subprocess backend",
        ),
        Row(
            f"{MANY} actors, {fork}",
            "s",
            ("many.fork", "total"),
            ("many.floor", "total"),
            Target("ratio", "<=", 0.3),
            na=na,
        ),
    ]
    q = quick()
    return [
        Phase("one actor", one, 3 if q else 7, one_rows),
        Phase("32 actors", many, 1 if q else 3, many_rows),
    ]


def main() -> None:
    import argparse

    import common

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spawn-method", help="fork-server backend (sets DEVX_SPAWN_METHOD)")
    args = p.parse_args()
    if args.spawn_method:
        os.environ["DEVX_SPAWN_METHOD"] = args.spawn_method
    common.run(phases())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sample"]:
        sample(sys.argv[2:])
    else:
        main()
