"""What the pytest plugin costs a passing test: pytest sessions of passing tests run
with the plugin off (``-p no:devx``), loaded but idle (no timeout), and armed
(``--devx-hang-timeout=60``); per-test time = (session - empty session) / tests.

    python bench/bench_pytest_plugin.py                  # 400 trivial tests, 12 tree tests
    python bench/bench_pytest_plugin.py --trivial 1000 --trees 20 --trials 5

Two kinds of test: trivial ones (what the hooks themselves cost) and ones that start a
one-child devx tree (armed, its actors also enable stack dumps: the signal handler,
the registry entry, importing stackscope).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIVIAL = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    assert i >= 0
"""

TREES = """
import pytest, trio, devx

def add(a, b):
    return a + b

@pytest.mark.parametrize("i", range({n}))
def test_tree(i):
    async def main():
        async with devx.open_nursery(name="bench", telemetry="off") as an:
            portal = await an.start_actor("child", enable_modules=[__name__])
            assert await portal.run(add, a=i, b=1) == i + 1
            await portal.cancel_actor()
    trio.run(main)
"""

MODES = {
    "off (-p no:devx)": ["-p", "no:devx"],
    "idle (no timeout)": [],
    "armed (--devx-hang-timeout=60)": ["--devx-hang-timeout=60"],
}


def session(cwd: Path, files: list[str], extra: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "DEVX_ENABLE_STACKSCOPE"}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *files],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trivial", type=int, default=400)
    ap.add_argument("--trees", type=int, default=12)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="devx-bench-plugin-") as tmp:
        cwd = Path(tmp)
        (cwd / "test_trivial.py").write_text(TRIVIAL.format(n=args.trivial))
        (cwd / "test_trees.py").write_text(TREES.format(n=args.trees))
        (cwd / "test_empty.py").write_text("def test_one():\n    pass\n")
        for what, fname, n in (
            ("trivial test", "test_trivial.py", args.trivial),
            ("test starting a 1-child tree", "test_trees.py", args.trees),
        ):
            print(f"{what} ({n} per session, best of {args.trials}):")
            for mode, extra in MODES.items():
                empty = min(session(cwd, ["test_empty.py"], extra) for _ in range(args.trials))
                runs = [session(cwd, [fname], extra) for _ in range(args.trials)]
                per = (min(runs) - empty) / n
                spread = statistics.pstdev(runs) / n
                print(f"  {mode:32s} {per * 1e3:8.3f} ms/test  (±{spread * 1e3:.3f})")


if __name__ == "__main__":
    main()
