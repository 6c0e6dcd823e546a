"""Stack-dump fan-out: time from one SIGUSR1 to a tree's root until the last actor's
dump is written, for trees of 1, 8 and 32 actors (target: < 1 s for 32).

    python bench/bench_dump.py                      # real devx actor trees
    python bench/bench_dump.py --impl plain         # plain trio processes, no runtime
    python bench/bench_dump.py --sizes 1 8 32 --shape both --trials 5

"written" is the newest log mtime minus the moment the signal was sent; "seen" is
when this process had read every complete dump (what ``devx dump`` waits for).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
PLAIN_TREE = HERE.parents[1] / "examples" / "hang" / "plain_tree.py"
HOOK = "devx.debug.stack:HOOK"


# --- the tree (runs in its own process tree) ------------------------------------------


def children_of(index: int, size: int, shape: str) -> list[int]:
    if shape == "flat":
        return list(range(1, size)) if index == 0 else []
    return [c for c in (2 * index + 1, 2 * index + 2) if c < size]


async def grow(index: int, size: int, shape: str) -> None:
    """Run in every actor: start this node's children, then wait forever."""
    import trio

    import devx

    async with devx.open_nursery() as an, trio.open_nursery() as tasks:
        for k in children_of(index, size, shape):
            portal = await an.start_actor(f"n{k}", enable_modules=[__name__])
            tasks.start_soon(functools.partial(portal.run, grow, index=k, size=size, shape=shape))
        await trio.sleep_forever()


def run_tree(size: int, shape: str) -> None:
    import trio

    import devx
    from devx.core import hooks

    if HOOK not in hooks.registered():  # until the debug layer registers it itself
        hooks.register(HOOK)

    async def main() -> None:
        async with devx.open_root_actor(name="bench", enable_stack_on_sig=True):
            await grow(0, size, shape)

    trio.run(main)


# --- the driver -------------------------------------------------------------------------


def wait_registered(size: int, root_pid: int, proc: subprocess.Popen[bytes]) -> list:
    from devx.debug.stack import registry as reg

    deadline = time.monotonic() + 30 + 2 * size
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the tree exited early with {proc.returncode}")
        ents = reg.entries()
        root = next((e for e in ents if e.pid == root_pid), None)
        if root is not None:
            mine = [e for e in ents if e.pid == root_pid or _descends(e, root_pid, ents)]
            if len(mine) == size:
                return mine
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {size} actors to register")


def _descends(e, root_pid: int, ents: list) -> bool:
    by_pid = {x.pid: x for x in ents}
    seen = set()
    while e.parent_pid not in seen:
        if e.parent_pid == root_pid:
            return True
        seen.add(e.parent_pid)
        e = by_pid.get(e.parent_pid)
        if e is None:
            return False
    return False


def trial(root_pid: int, actors: list) -> tuple[float, float, int]:
    from devx.debug.stack import registry as reg

    offsets = {e.pid: _size(e.log_path) for e in actors}
    pending = set(offsets)
    t0_ns = time.time_ns()
    t0 = time.perf_counter()
    os.kill(root_pid, signal.SIGUSR1)
    written = fallbacks = 0
    while pending:
        if time.perf_counter() - t0 > 10:
            sys.exit(f"no dump within 10 s from pids {sorted(pending)}")
        for e in [e for e in actors if e.pid in pending]:
            try:
                with open(e.log_path, "rb") as f:
                    f.seek(offsets[e.pid])
                    data = f.read()
                    done = reg.end_line(e.pid).encode() in data
            except FileNotFoundError:
                continue
            if done:
                pending.discard(e.pid)
                fallbacks += b"mode:     thread stacks (fallback)" in data
                written = max(written, os.stat(e.log_path).st_mtime_ns)
        if pending:
            time.sleep(0.001)
    return (written - t0_ns) / 1e9, time.perf_counter() - t0, fallbacks


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def bench(size: int, shape: str, impl: str, trials: int) -> tuple[list[float], list[float], int]:
    if impl == "plain":
        argv = [sys.executable, str(PLAIN_TREE), f"--size={size}", f"--shape={shape}"]
    else:
        argv = [sys.executable, str(HERE), "--tree", str(size), "--shape", shape]
    proc = subprocess.Popen(
        argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    actors = []
    try:
        actors = wait_registered(size, proc.pid, proc)
        time.sleep(0.5)  # let the last ones settle into their wait
        written, seen, fallbacks = [], [], 0
        for _ in range(trials):
            w, s, f = trial(proc.pid, actors)
            written.append(w)
            seen.append(s)
            fallbacks += f
            time.sleep(0.5)  # past the handler's coalescing window
        return written, seen, fallbacks
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for e in actors:
            with contextlib.suppress(OSError):
                os.unlink(e.log_path)


def sample(argv: list[str]) -> None:
    """One tree for ``make bench``: ``--sample IMPL SIZE SHAPE TRIALS``."""
    from common import emit

    impl, size, shape, trials = argv[0], int(argv[1]), argv[2], int(argv[3])
    os.environ["DEVX_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="devx-bench-")
    try:
        written, seen, fallbacks = bench(size, shape, impl, trials)
    finally:
        shutil.rmtree(os.environ["DEVX_RUNTIME_DIR"], ignore_errors=True)
    emit({"written": written, "first": written[0], "seen": seen, "fallbacks": fallbacks})


def phases() -> list:
    from common import Phase, Row, Target, quick, sample_kind, smoke

    q = quick()
    trials = "1" if smoke() else "2" if q else "3"
    size = "4" if smoke() else "32"  # the rows say 32: a smoke run measures nothing
    kinds, rows = [], []
    for shape in ("flat",) if q else ("flat", "nested"):
        for impl in ("plain", "runtime"):
            kinds.append(
                sample_kind(f"dump.{impl}.{shape}", "bench_dump.py", impl, size, shape, trials)
            )
        rows.append(
            Row(
                f"SIGUSR1 → last dump written, 32 actors {shape}",
                "s",
                (f"dump.runtime.{shape}", "written"),
                (f"dump.plain.{shape}", "written"),
                Target("value", "<", 1.0),
                note="floor: plain trio processes, same dump handler (examples/hang)"
                if shape == "flat"
                else "",
            )
        )
    rows.append(
        Row(
            "  the first dump of a tree (flat)",
            "s",
            ("dump.runtime.flat", "first"),
            ("dump.plain.flat", "first"),
            Target("value", "<", 1.0),
            note="the first signal each tree gets (one sample per tree)",
        )
    )
    return [Phase("dump", kinds, 1 if q else 2, rows)]


def main() -> None:
    if sys.argv[1:2] == ["--sample"]:
        sample(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--shape", choices=("flat", "nested", "both"), default="both")
    p.add_argument("--impl", choices=("runtime", "plain"), default="runtime")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--tree", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.tree:
        run_tree(args.tree, args.shape)
        return
    os.environ["DEVX_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="devx-bench-")
    try:
        run_all(args)
    finally:  # the killed trees leave their registry entries behind
        shutil.rmtree(os.environ["DEVX_RUNTIME_DIR"], ignore_errors=True)


def run_all(args: argparse.Namespace) -> None:
    shapes = ("flat", "nested") if args.shape == "both" else (args.shape,)
    print(f"stack dump fan-out ({args.impl}, {args.trials} trials, {os.cpu_count()} CPUs)")
    print(
        f"{'actors':>6} {'shape':>6}  {'written med':>11} {'max':>7}  {'seen med':>8} {'max':>7}"
        "  fallback dumps"
    )
    for size in args.sizes:
        for shape in shapes if size > 1 else ("flat",):
            w, s, f = bench(size, shape, args.impl, args.trials)
            print(
                f"{size:>6} {shape:>6}  {statistics.median(w):>10.3f}s {max(w):>6.3f}s  "
                f"{statistics.median(s):>7.3f}s {max(s):>6.3f}s  {f}/{size * args.trials}",
                flush=True,
            )


if __name__ == "__main__":
    main()
