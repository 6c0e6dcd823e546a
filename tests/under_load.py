"""Run a command several times while every core is kept busy: ``make test-load``.

    python tests/under_load.py [--runs N] [--loops N] [-- COMMAND ...]

COMMAND defaults to the full pytest suite (``python -m pytest -q``). The busy loops
are processes of our own, started before the first run and stopped after the last,
whatever happens: a failing run, ctrl-c, SIGTERM. Each loop also watches its parent
and exits by itself should this script die without a chance to stop it (SIGKILL).
Prints one line per run and a summary; exits non-zero unless every run passed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

# spins on getppid(): busy in user and system time, and gone once its parent is
BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


def start_loops(count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", BUSY_LOOP],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # ctrl-c at the terminal is ours to handle
        )
        for _ in range(count)
    ]


def stop_loops(loops: list[subprocess.Popen[bytes]]) -> None:
    for p in loops:
        if p.poll() is None:
            p.kill()
    for p in loops:
        p.wait()


def run(command: list[str]) -> int:
    """Run ``command`` to its end. Interrupted, give it a few seconds to finish by
    itself (ctrl-c at the terminal reached it too), then kill it."""
    proc = subprocess.Popen(command)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="how many runs (default 3)")
    parser.add_argument(
        "--loops",
        type=int,
        default=os.cpu_count() or 2,
        help="busy loops (default: one per core, %(default)s)",
    )
    parser.add_argument("command", nargs="*", help="what to run (default: the pytest suite)")
    args = parser.parse_args(argv)
    command = args.command or [sys.executable, "-m", "pytest", "-q"]

    # started with SIGINT ignored (a background job of a non-interactive shell):
    # take it back, ctrl-c must stop us and the loops
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    results: list[tuple[int, float]] = []
    loops = start_loops(args.loops)
    print(
        f"under_load: {args.loops} busy loop(s) (pids {' '.join(str(p.pid) for p in loops)}); "
        f"{args.runs} run(s) of: {' '.join(command)}",
        flush=True,
    )
    try:
        for n in range(1, args.runs + 1):
            if any(p.poll() is not None for p in loops):
                raise RuntimeError("a busy loop died: the machine would not be busy")
            t0 = time.monotonic()
            code = run(command)
            results.append((code, time.monotonic() - t0))
            verdict = "passed" if code == 0 else f"FAILED (exit code {code})"
            took = results[-1][1]
            print(f"under_load: run {n}/{args.runs} {verdict} in {took:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("under_load: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        stop_loops(loops)
    passed = sum(1 for code, _ in results if code == 0)
    print(f"under_load: {passed}/{len(results)} run(s) passed with {args.loops} busy loop(s)")
    return 0 if passed == len(results) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
