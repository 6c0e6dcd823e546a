"""``make bench``: every benchmark of issue 14's table in one run, one table of each
figure next to its floor measured in the same run (interleaved rounds, medians of
fresh-process samples), the ratio and the target; the record goes to
``bench/results/latest.json`` (machine, load, commit, raw samples per row).

    python bench/run.py [--spawn-method NAME] [--only GROUP ...] [--json PATH]

``BENCH_QUICK=1``: a ~1-minute smoke run (fewer rounds, smaller workloads; its JSON
goes to ``bench/results/quick.json`` unless ``--json`` says otherwise).
``--spawn-method`` / ``DEVX_SPAWN_METHOD``: the fork-server backend to measure in the
fork-server rows (unset: the default, the fork server on Linux); every other row pins
the subprocess backend.
The other benches (``bench_context``, ``bench_dead_collector``,
``bench_pytest_plugin``, ``stress``) still run on their own.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import bench_dump
import bench_pause
import bench_roundtrip
import bench_spawn
import bench_telemetry_overhead
import common


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spawn-method", help="fork-server backend (sets DEVX_SPAWN_METHOD)")
    p.add_argument("--only", nargs="+", help="groups: 'one actor', ipc, '32 actors', dump, pause")
    p.add_argument("--json", type=Path, help="where the record goes")
    args = p.parse_args()
    if args.spawn_method:
        os.environ["DEVX_SPAWN_METHOD"] = args.spawn_method
    # as an installed package is: byte-compiled. With PYTHONDONTWRITEBYTECODE set, every
    # fresh process (each sample, each subprocess actor, each zygote) would compile the
    # modules changed since the last compile again: ~100 ms on a spawn row. The bench
    # scripts too: a child actor serving a sample's functions imports that script (its
    # parent's __main__), as a user's script is imported from its .pyc after its first
    # run; compiled from source, bench_spawn.py alone costs each such child ~5-20 ms
    import compileall

    import devx

    compileall.compile_dir(str(Path(devx.__file__).parent), quiet=1)
    compileall.compile_dir(str(common.HERE), maxlevels=0, quiet=1)
    spawn_one, spawn_many = bench_spawn.phases()
    phases = [
        spawn_one,
        *bench_telemetry_overhead.phases(),
        *bench_roundtrip.phases(),
        spawn_many,
        *bench_dump.phases(),
        *bench_pause.phases(),
    ]
    if args.only:
        phases = [ph for ph in phases if ph.group in args.only]
    default = "quick.json" if common.quick() else "latest.json"
    common.run(phases, json_path=args.json or common.RESULTS / default)


if __name__ == "__main__":
    main()
