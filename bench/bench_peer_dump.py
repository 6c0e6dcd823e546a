"""The first SIGUSR1 a tree gets, devx against its peer (tractor) on one Python: a
root and N children (32: 33 processes) with stack dumps on, the signal sent to the
root, timed until every process's dump file holds its whole dump. Interleaved rounds,
a fresh tree per sample (only the first signal a tree gets is measured: the row of
issue 26, "first SIGUSR1 -> 33 dumps written", goal < 0.5x the peer).

    python bench/bench_peer_dump.py --peer-python PATH [--rounds N] [--size N]

The peer is not a dependency of devx: ``--peer-python`` (or ``BENCH_PEER_PYTHON``)
names the interpreter of a venv where ``tractor`` is installed, of the same Python
version as this one; without it only devx is measured. The same target program runs
under both (``import devx as tractor`` is all it takes).
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import trio

# what marks a whole dump in each runtime's per-process file, and where that file is
END = {
    "devx": ("/tmp/devx-stackscope-{pid}.log", "===== end devx stack dump: pid {pid}"),
    "tractor": ("/tmp/tractor-stackscope-{pid}.log", "|_____ end-of-"),
}
TIMEOUT_S = 60.0


async def _pid() -> int:
    return os.getpid()


async def target(runtime: str, size: int) -> None:
    rt = importlib.import_module(runtime)
    async with rt.open_nursery(enable_stack_on_sig=True) as an:
        pids = []
        for i in range(size):
            portal = await an.start_actor(f"a{i}", enable_modules=[__name__])
            pids.append(await portal.run(_pid))
        print(" ".join(map(str, ["READY", os.getpid(), *pids])) + "\n", end="", flush=True)
        await trio.sleep_forever()


def _done(runtime: str, pid: int) -> bool:
    path, mark = END[runtime]
    try:
        return mark.format(pid=pid) in Path(path.format(pid=pid)).read_text(errors="replace")
    except OSError:
        return False


def sample(python: str, runtime: str, size: int, settle: float = 0.0) -> float:
    """Seconds from SIGUSR1 to the root until every process's dump is written, sent
    ``settle`` s after the tree is up (devx warms each actor's dump path 1 s after
    it starts: a signal right at the start finds the youngest actors cold)."""
    proc = subprocess.Popen(
        [python, __file__, "--target", runtime, str(size)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: killed whole at the end
        text=True,
    )
    try:
        assert proc.stdout is not None
        # bounded: the peer's 32-actor tree hung at start twice in ~30 samples under load
        if not select.select([proc.stdout], [], [], TIMEOUT_S)[0]:
            raise RuntimeError(f"{runtime}: the tree of {size} actors was not up in {TIMEOUT_S}s")
        line = proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"{runtime} target did not start ({line})")
        pids = [int(p) for p in line[1:]]
        for pid in pids:
            path = Path(END[runtime][0].format(pid=pid))
            path.unlink(missing_ok=True)  # a reused pid's old file
        left = set(pids)
        time.sleep(settle)
        t0 = time.perf_counter()
        os.kill(pids[0], signal.SIGUSR1)
        while left:
            left = {pid for pid in left if not _done(runtime, pid)}
            if time.perf_counter() - t0 > TIMEOUT_S:
                raise RuntimeError(f"{runtime}: {len(left)} dump(s) not written in {TIMEOUT_S}s")
            time.sleep(0.002)
        return time.perf_counter() - t0
    finally:
        # ctrl-c ends the tree as a user would (its registry entries removed); the
        # group is killed after, should anything be left
        try:
            os.kill(proc.pid, signal.SIGINT)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        for pid in locals().get("pids", []):
            Path(END[runtime][0].format(pid=pid)).unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer-python", default=os.environ.get("BENCH_PEER_PYTHON"))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--settle", type=float, default=0.0, help="seconds between up and signal")
    args = p.parse_args()
    kinds = [("devx", sys.executable)]
    if args.peer_python:
        kinds.append(("tractor", args.peer_python))
    got: dict[str, list[float]] = {name: [] for name, _ in kinds}
    for _ in range(args.rounds):
        for name, python in kinds:
            got[name].append(sample(python, name, args.size, args.settle))
    load = os.getloadavg()[0]
    print(
        f"first SIGUSR1 -> {args.size + 1} dumps written, {args.settle:g} s after the tree is"
        f" up, {args.rounds} rounds (load {load:.1f})"
    )
    for name, values in got.items():
        ms = sorted(v * 1e3 for v in values)
        med = statistics.median(ms)
        print(f"  {name:8} median {med:7.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f})")
    if "tractor" in got:
        ratio = statistics.median(got["devx"]) / statistics.median(got["tractor"])
        per = [d / t for d, t in zip(got["devx"], got["tractor"], strict=True)]
        each = statistics.median(per)
        print(f"  devx / peer: {ratio:.2f}x (per round median {each:.2f}x; goal < 0.5x)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--target"]:
        trio.run(target, sys.argv[2], int(sys.argv[3]))
    else:
        main()
