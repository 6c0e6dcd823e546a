"""Every benchmark of bench/ still runs (issue 28): one smoke run each with the fewest
iterations it takes (``BENCH_SMOKE=1``: quick workloads, one round, no record
written). No figure is checked here: speed goals live in bench/ (``make bench``) and
``make stress`` (fault scenarios, not a benchmark, is not run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_script, scaled

pytestmark = pytest.mark.timeout(240)

BENCH = Path(__file__).resolve().parents[1] / "bench"

# script, arguments for the fewest iterations, a line its output must have
RUNS = [
    # make bench's table: spawn (1 and 32 actors), telemetry overhead, round trips, dumps,
    # warm pauses
    ("run.py", [], "QUICK"),
    ("bench_context.py", ["100"], ""),
    ("bench_dead_collector.py", ["1"], ""),
    ("bench_discovery.py", ["2"], "lookups/s"),
    ("bench_door.py", ["2"], "onto another task's breakpoint"),
    ("bench_forkserver.py", ["--rounds", "1"], ""),
    ("bench_greenback.py", [], "greenback"),
    ("bench_ipc_paths.py", ["1"], ""),
    ("bench_live_telemetry.py", ["1"], ""),
    ("bench_peer_errors.py", ["3", "1"], "errors collected from 3 failing children"),
    ("bench_pytest_plugin.py", ["--trivial", "3", "--trees", "1", "--trials", "1"], ""),
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


@pytest.mark.parametrize(("script", "args", "want"), RUNS, ids=[r[0] for r in RUNS])
def test_benchmark_smoke_run(script: str, args: list[str], want: str) -> None:
    out = run_script(
        BENCH / script, *args, timeout=scaled(60), cwd=BENCH, BENCH_QUICK="1", BENCH_SMOKE="1"
    )
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert want in out.stdout, out.stdout[-2000:]
