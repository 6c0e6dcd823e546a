"""`n` onto a breakpoint hit by another task, beside a plain `n` (one run, a real PTY).

- plain `n`: over an ordinary line of a child's paused function (no lock traffic);
- `n` onto another task's breakpoint: the stepping task's `n` waits on a task that
  reaches a `b` first; the step gives the terminal up after ``STEP_YIELD_S`` (0.25 s)
  with a waiter queued, and the breakpoint's own REPL (lock request, FIFO grant,
  banner) comes up. Timed from the `n` sent to that REPL's prompt.

    python bench/bench_door.py [turns] [python-for-the-plain-baseline]

The second argument runs the plain `n` under another interpreter too (e.g. main's
venv: today's plain `n`) in the same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import pexpect

TARGET = Path(__file__).with_name("_door_target.py")
PROMPT = "(Pdb+) "


def spawn(python: str, mode: str, turns: int) -> pexpect.spawn:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    child = pexpect.spawn(
        python, [str(TARGET), mode, str(turns)], env=env, encoding="utf-8", timeout=30
    )
    child.delaybeforesend = None
    return child


def timed(child: pexpect.spawn, line: str, pattern: str = PROMPT) -> float:
    t0 = time.perf_counter()
    child.sendline(line)
    child.expect_exact(pattern)
    return time.perf_counter() - t0


def plain_n(python: str, turns: int) -> list[float]:
    child = spawn(python, "plain", turns)
    child.expect_exact(PROMPT)
    lat = [timed(child, "n") for _ in range(2 * turns)]
    child.sendline("c")
    child.expect_exact("target done")
    child.expect(pexpect.EOF)
    return lat


def door_n(turns: int) -> list[float]:
    child = spawn(sys.executable, "door", turns)
    child.expect_exact(PROMPT)  # at the pause
    child.sendline("b hit_me")
    child.expect_exact(PROMPT)
    timed(child, "n")  # onto the loop head
    lat: list[float] = []
    for _ in range(turns - 1):
        timed(child, "n")  # onto go.send_nowait(i)
        timed(child, "n")  # onto await done.receive()
        t0 = time.perf_counter()
        child.sendline("n")  # the hitter reaches the breakpoint first
        child.expect_exact(">>> devx BREAKPOINT")
        child.expect_exact(PROMPT)
        lat.append(time.perf_counter() - t0)
        child.sendline("c")
        child.expect_exact(">>> devx STEP")  # the stepper's stop, its own turn
        child.expect_exact(PROMPT)  # at the loop head
    child.sendline("cl")
    child.expect_exact("Clear all breaks?")
    child.sendline("y")
    child.expect_exact(PROMPT)
    child.sendline("c")
    child.expect_exact("target done")
    child.expect(pexpect.EOF)
    return lat


def show(name: str, lat: list[float]) -> None:
    ms = sorted(x * 1000 for x in lat)
    med = statistics.median(ms)
    print(f"{name:40s} median {med:7.1f} ms  min {ms[0]:7.1f}  max {ms[-1]:7.1f}  (n={len(ms)})")


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    show("plain `n` (this tree)", plain_n(sys.executable, turns))
    if len(sys.argv) > 2:
        show(f"plain `n` ({sys.argv[2]})", plain_n(sys.argv[2], turns))
    show("`n` onto another task's breakpoint", door_n(turns))


if __name__ == "__main__":
    main()
