"""Debugger latency on a real pseudo-terminal (pexpect), not a test.

- pause -> prompt: a child prints a timestamp right before ``await devx.pause()``;
  we time the ``(Pdb+)`` prompt arriving on the PTY (lock request over IPC to the
  root, grant, banner, pdbp setup). Target < 50 ms.
- lock hand-off: two children pause in turn; from the ``c`` we type to the other
  child's prompt appearing (release over IPC, FIFO grant, banner, prompt).
  Target < 20 ms. And the same with nine children, eight waiting behind the holder
  (the grant banner then lists the queue).
- re-entry: `n` onto ``await devx.pause()`` in a child whose REPL is live
  (examples/debugging/habits_step_loop.py): the pause re-enters the same REPL, no
  lock traffic. Timed from the ``n`` to the next prompt, beside a plain `n` over an
  ordinary line of the same loop. Target < 5 ms.
Medians over N turns, printed.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

import pexpect

TARGET = Path(__file__).with_name("_pause_target.py")
SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in (
    "",
    "0",
)  # make test: runs, measures nothing
N = 3 if SMOKE else 20
PROMPT = "(Pdb+) "


def spawn(children: int | str, turns: int) -> pexpect.spawn:
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


def pause_to_prompt(plain: bool = False) -> list[float]:
    """From the print right before the pause to its prompt; ``plain``: the floor, a
    bare ``pdbp.set_trace()`` in a plain trio process instead of a child's pause."""
    child = spawn("plain" if plain else 1, N)
    lat = []
    for _ in range(N):
        child.expect(r"T0 (?:p0|plain) (\d+\.\d+)")
        t0 = float(child.match.group(1))
        child.expect_exact(PROMPT)
        lat.append(time.time() - t0)
        child.sendline("c")
    child.expect(pexpect.EOF)
    return lat


def hand_off(children: int = 2) -> list[float]:
    """Only turns where the prompt moved to another actor count (an actor that asks
    again only after the holder's release may get the terminal again: enough turns
    for that)."""
    child = spawn(children, N)
    child.expect_exact(PROMPT)
    lat: list[float] = []
    holder = _holder(child.before)
    while len(lat) < N:
        t_c = time.time()
        child.sendline("c")
        child.expect_exact(PROMPT)
        dt = time.time() - t_c
        now = _holder(child.before)
        if now != holder:
            lat.append(dt)
        holder = now
    child.close(force=True)
    return lat


LOOP = Path(__file__).resolve().parent.parent / "examples" / "debugging" / "habits_step_loop.py"


def reentry() -> tuple[list[float], list[float]]:
    """(`n` over a pause, `n` over a plain line), each from the keypress to the prompt."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable, [str(LOOP), "child", str(N + 2)], env=env, encoding="utf-8", timeout=30
    )
    child.delaybeforesend = None
    child.expect_exact(PROMPT)
    over_pause: list[float] = []
    plain: list[float] = []
    line = child.before
    while len(over_pause) < N:
        at_pause = "-> await devx.pause()" in line
        t0 = time.time()
        child.sendline("n")
        child.expect_exact(PROMPT)
        (over_pause if at_pause else plain).append(time.time() - t0)
        line = child.before
    child.close(force=True)
    return over_pause, plain


def _holder(screen: str) -> str:
    return re.findall(r"in actor '(\w+)'", screen)[-1]


def report(label: str, lat: list[float], target_ms: float) -> None:
    """The first turn apart (it imports pdbp and warms the REPL), then the rest."""
    warm = sorted(lat[1:])
    p90 = warm[int(len(warm) * 0.9) - 1]
    print(
        f"{label}: first {lat[0] * 1e3:6.1f} ms, then median {statistics.median(warm) * 1e3:6.1f}"
        f" ms, p90 {p90 * 1e3:6.1f} ms, max {warm[-1] * 1e3:6.1f} ms over {len(warm)}"
        f" (target < {target_ms:.0f} ms)"
    )


def warm(lat: list[float]) -> float:
    return statistics.median(lat[1:])


def sample() -> None:
    """One sample for ``make bench``: the warm medians (seconds) of one run of each."""
    from common import emit

    pause, handoff = pause_to_prompt(), hand_off()
    bare = pause_to_prompt(plain=True)
    over_pause, plain = reentry()
    emit(
        {
            "pause": warm(pause),
            "bare_pdbp": warm(bare),
            "handoff": warm(handoff),
            "over_pause": warm(over_pause),
            "plain_n": warm(plain),
        }
    )


def phases() -> list:
    from common import Phase, Row, Target, quick, sample_kind, smoke

    kinds = [sample_kind("pause", "bench_pause.py")]
    note = (
        "floor: a bare pdbp.set_trace() in a plain trio process on the same PTY (no actor,"
        " lock or banner): issue 26's floor; ratio: the median of per-sample ratios"
    )
    # every sample measures the floor beside the figures (one process, a few seconds
    # apart): paired, as the round-trip rows are, since the box's load swings between samples
    rows = [
        Row(
            "warm pause → prompt",
            "ms",
            ("pause", "pause"),
            ("pause", "bare_pdbp"),
            Target("ratio", "<=", 1.3),
            1e3,
            note=note,
            paired=True,
        ),
        Row(
            "warm lock hand-off (c → other's prompt)",
            "ms",
            ("pause", "handoff"),
            ("pause", "bare_pdbp"),
            Target("ratio", "<=", 1.3),
            1e3,
            paired=True,
        ),
        Row(
            "  a plain `n` in the same REPL",
            "ms",
            ("pause", "plain_n"),
            ("pause", "bare_pdbp"),
            scale=1e3,
            note="the terminal's own cost: PTY echo and a prompt, no new REPL",
        ),
        Row(
            "  n onto a pause (re-entry)",
            "ms",
            ("pause", "over_pause"),
            ("pause", "plain_n"),
            Target("value", "<", 5.0),
            1e3,
        ),
    ]
    return [Phase("pause", kinds, 1 if smoke() else 3 if quick() else 5, rows)]


def main() -> None:
    if sys.argv[1:2] == ["--sample"]:
        sample()
        return
    report("pause -> prompt", pause_to_prompt(), 50)
    report("lock hand-off  ", hand_off(), 20)
    report("hand-off, 8 wait", hand_off(9), 20)
    over_pause, plain = reentry()
    report("n onto a pause ", over_pause, 5)
    report("n (plain line) ", plain, 5)


if __name__ == "__main__":
    main()
