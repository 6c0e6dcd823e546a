"""Every benchmark of bench/ still runs (issue 28): one smoke run each with the fewest
iterations it takes (``BENCH_SMOKE=1``: quick workloads, one round, no record
written). No figure is checked here: speed goals live in bench/ (``make bench``) and
``make stress`` (fault scenarios, not a benchmark, is not run here).

The runs spend most of their wall time waiting (actor boots, PTY prompts, collector
timeouts), not computing: they run ``PARALLEL`` at a time from the first test on, and
each test waits for its own, which cuts this file's wall time about threefold on two
cores without a figure at stake."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import assert_none_left, devx_actor_pids, devx_zygote_pids, run_script, scaled

# one xdist group: the runs are started once, by the module's fixture, for its tests
pytestmark = [pytest.mark.timeout(240), pytest.mark.xdist_group("bench_smoke")]

BENCH = Path(__file__).resolve().parents[1] / "bench"

# script, arguments for the fewest iterations, a line its output must have
RUNS = [  # the longest first: they start first
    # make bench's table: spawn (1 and 32 actors), telemetry overhead, round trips, dumps,
    # warm pauses
    ("run.py", [], "QUICK"),
    ("bench_door.py", ["2"], "onto another task's breakpoint"),
    ("bench_ipc_paths.py", ["1"], ""),
    ("bench_dead_collector.py", ["1"], ""),
    ("bench_blocked_teardown.py", ["1"], "grandchild"),
    ("bench_forkserver.py", ["--rounds", "1"], ""),
    ("bench_pytest_plugin.py", ["--trivial", "3", "--trees", "1", "--trials", "1"], ""),
    ("bench_live_telemetry.py", ["1"], ""),
    ("bench_discovery.py", ["2"], "lookups/s"),
    ("bench_context.py", ["100"], ""),
    ("bench_attach.py", ["2"], "attach latency over the floor"),
    ("bench_crash_locals.py", ["8"], "cost of the locals"),
    ("bench_greenback.py", [], "greenback"),
    ("bench_peer_errors.py", ["3", "1"], "errors collected from 3 failing children"),
    ("bench_peer_dump.py", ["--rounds", "1", "--size", "2"], "3 dumps written"),
]


def test_every_benchmark_is_run_here() -> None:
    """A new bench/bench_*.py must be added to RUNS (run.py runs the phased ones)."""
    phased = {
        "bench_spawn.py",
        "bench_roundtrip.py",
        "bench_telemetry_overhead.py",
        "bench_dump.py",
        "bench_pause.py",
    }
    listed = {script for script, _args, _want in RUNS}
    assert {p.name for p in BENCH.glob("bench_*.py")} == listed - {"run.py"} | phased


PARALLEL = 3


def _smoke(script: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_script(
        BENCH / script, *args, timeout=scaled(90), cwd=BENCH, BENCH_QUICK="1", BENCH_SMOKE="1"
    )


@pytest.fixture(scope="module")
def smoke_runs(
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """The selected tests' runs, all started at once (``PARALLEL`` at a time)."""
    selected = {
        item.callspec.params["script"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_benchmark_smoke_run"
        and hasattr(item, "callspec")
    }
    before, zygotes = devx_actor_pids(), devx_zygote_pids()
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="bench-smoke") as pool:
        futures = {
            script: pool.submit(_smoke, script, args)
            for script, args, _ in RUNS
            if script in selected
        }
        yield futures
        for f in futures.values():  # a test deselected or failed early: not left running
            f.cancel()
    # once every run ended: the runs overlap the tests (a test's own check would see
    # the processes of the runs still going as its orphans)
    assert_none_left(before, zygotes)


@pytest.fixture(autouse=True)
def no_orphans() -> Iterator[None]:
    """Replaces the suite's per-test check here: see smoke_runs, which checks once."""
    yield


@pytest.mark.parametrize(("script", "args", "want"), RUNS, ids=[r[0] for r in RUNS])
def test_benchmark_smoke_run(
    script: str,
    args: list[str],
    want: str,
    smoke_runs: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    out = smoke_runs[script].result()
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert want in out.stdout, out.stdout[-2000:]
