"""Debugger latency on a real pseudo-terminal (pexpect), not a test.

- pause -> prompt: a child prints a timestamp right before ``await devx.pause()``;
  we time the ``(Pdb+)`` prompt arriving on the PTY (lock request over IPC to the
  root, grant, banner, pdbp setup). Target < 50 ms.
- lock hand-off: two children pause in turn; from the ``c`` we type to the other
  child's prompt appearing (release over IPC, FIFO grant, banner, prompt).
  Target < 20 ms.
Medians over N turns, printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import pexpect

TARGET = Path(__file__).with_name("_pause_target.py")
N = 20
PROMPT = "(Pdb+) "


def spawn(children: int, turns: int) -> pexpect.spawn:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable,
        [str(TARGET), str(children), str(turns)],
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default
    return child


def pause_to_prompt() -> list[float]:
    child = spawn(1, N)
    lat = []
    for _ in range(N):
        child.expect(r"T0 p0 (\d+\.\d+)")
        t0 = float(child.match.group(1))
        child.expect_exact(PROMPT)
        lat.append(time.time() - t0)
        child.sendline("c")
    child.expect(pexpect.EOF)
    return lat


def hand_off() -> list[float]:
    child = spawn(2, N // 2 + 1)
    child.expect_exact(PROMPT)
    lat = []
    for _ in range(N):
        t_c = time.time()
        child.sendline("c")
        child.expect_exact(PROMPT)
        lat.append(time.time() - t_c)
    child.close(force=True)
    return lat


def main() -> None:
    p = pause_to_prompt()
    h = hand_off()
    print(
        f"pause -> prompt : median {statistics.median(p) * 1e3:6.1f} ms, "
        f"max {max(p) * 1e3:6.1f} ms over {len(p)} (target < 50 ms)"
    )
    print(
        f"lock hand-off   : median {statistics.median(h) * 1e3:6.1f} ms, "
        f"max {max(h) * 1e3:6.1f} ms over {len(h)} (target < 20 ms)"
    )


if __name__ == "__main__":
    main()
