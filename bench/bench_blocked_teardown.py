"""Benchmark (not a test): the teardown of a tree whose actor is blocked in sync code.

An actor's loop stuck in ``time.sleep`` cannot read its parent's cancel: the parent
SIGTERMs it after ``DEVX_CANCEL_GRACE``, its own thread ends it a second later (its
line, its telemetry flushed, exit 143), and the parent SIGKILLs only one that could not
even do that, ``TERM_GRACE`` after the SIGTERM. Per spawn method, in fresh processes:

* ``child``: root -> a child blocked in a context;
* ``grandchild``: root -> an idle child -> a grandchild blocked in a context (both
  escalations come together: the idle child passes its SIGTERM on);
* ``black-hole``: as ``child``, exporting to an OTLP/HTTP collector that accepts and
  never answers (the hard exit's flush is bounded).

Prints, per scenario, the median time from ``an.cancel()`` to the end of the root's
nursery block, the exit code of the root's child, and whether the blocked actor's
``devx.actor`` span reached the telemetry file ended as a hard exit (before the
alignment: 5.0 s, -9, no span).

Run: ``python bench/bench_blocked_teardown.py [runs]``; ``BENCH_SMOKE=1``: one run of
each with DEVX_CANCEL_GRACE=0.5.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import trio

import devx

SCENARIOS = ("child", "grandchild", "black-hole")
METHODS = ("subprocess", "forkserver")


@devx.context
async def block(ctx: devx.Context) -> None:
    await ctx.started(os.getpid())
    time.sleep(3600)  # a sync call in async code: this actor's loop is stuck


@devx.context
async def middle(ctx: devx.Context) -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("blocker", enable_modules=[__name__])
        async with portal.open_context(block) as (_, pid):
            await ctx.started(pid)
            await trio.sleep_forever()


async def sample(scenario: str) -> dict[str, object]:
    async with devx.open_nursery() as an:
        nested = scenario == "grandchild"
        portal = await an.start_actor("mid" if nested else "blocker", enable_modules=[__name__])
        record = portal._child
        try:
            async with portal.open_context(middle if nested else block) as (_, pid):
                await trio.sleep(0.1)  # (it went into its time.sleep right after started)
                t0 = time.perf_counter()
                await an.cancel()
        except (devx.ChannelClosed, devx.ContextCancelled):
            pass
    return {"took": time.perf_counter() - t0, "code": record.exit_code, "pid": pid}


def run_one(scenario: str, method: str, tmp: str, grace: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    out_file = os.path.join(tmp, f"{scenario}-{method}-{time.monotonic_ns()}.jsonl")
    env.update(
        DEVX_TELEMETRY_QUIET="1",
        DEVX_TELEMETRY_FILE=out_file,
        DEVX_SPAWN_METHOD=method,
        DEVX_CANCEL_GRACE=grace,
    )
    hole = None
    if scenario == "black-hole":
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)  # connections complete in the kernel; nobody ever reads
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{hole.getsockname()[1]}"
        env["DEVX_TELEMETRY_EXIT_TIMEOUT"] = "0.5"  # the root's own exit
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--sample", scenario],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
    finally:
        if hole is not None:
            hole.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{scenario}/{method}: {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    from devx.telemetry.readback import load_spans

    res["span"] = any(
        s["name"] == "devx.actor"
        and s["attributes"].get("process.pid") == res["pid"]
        and s["attributes"].get("devx.actor.outcome") == "hard_exit"
        for s in load_spans(out_file)
    )
    return res


def main() -> None:
    if sys.argv[1:2] == ["--sample"]:
        print(json.dumps(trio.run(sample, sys.argv[2])))
        return
    smoke = os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else (1 if smoke else 3)
    grace = "0.5" if smoke else os.environ.get("DEVX_CANCEL_GRACE", "3")
    print(f"DEVX_CANCEL_GRACE={grace}, {runs} run(s) each, load {os.getloadavg()[0]:.1f}")
    print(f"{'scenario':<11} {'method':<11} {'teardown':>9} {'exit code':>10} {'on file':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS:
            for method in METHODS:
                got = [run_one(scenario, method, tmp, grace) for _ in range(runs)]
                took = statistics.median(float(str(r["took"])) for r in got)
                codes = ",".join(sorted({str(r["code"]) for r in got}))
                on_file = sum(bool(r["span"]) for r in got)
                print(f"{scenario:<11} {method:<11} {took:>7.2f} s {codes:>10} {on_file:>5}/{runs}")


if __name__ == "__main__":
    main()
