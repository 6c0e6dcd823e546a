"""``devx attach`` latency, not a test: from the command to the ``(Pdb+)`` prompt.

A tree runs under its own session with stdin /dev/null in attach mode
(examples/debugging/attach_tree.py); its REPLs wait. Per turn, ``devx attach`` is
started on a real PTY (pexpect) and timed to its first prompt (process start, the
tree's lock file and socket found, hello, banner); the client then detaches (ctrl-\\)
and the next turn attaches again to the same waiting REPL. Beside it, the floor:
``python -m devx --version`` to its exit (interpreter and CLI start). Medians over N.
Target: < 300 ms more than the floor.

Run: ``python bench/bench_attach.py [turns]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")
TREE = Path(__file__).resolve().parent.parent / "examples" / "debugging" / "attach_tree.py"
PROMPT = "(Pdb+) "


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else (2 if SMOKE else 15)
    rt = tempfile.mkdtemp(prefix="bench-attach-")
    env = {**os.environ, "DEVX_RUNTIME_DIR": rt, "NO_COLOR": "1", "TERM": "xterm"}
    tree = subprocess.Popen(
        [sys.executable, str(TREE), "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        assert tree.stdout is not None
        for line in tree.stdout:  # the REPL waits for a client
            if "waiting for `devx attach`" in line:
                break
        attach, floor = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "devx", "--version"],
                env=env,
                check=True,
                capture_output=True,
            )
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c = pexpect.spawn(
                sys.executable, ["-m", "devx", "attach"], env=env, encoding="utf-8", timeout=30
            )
            c.expect_exact(PROMPT)
            attach.append(time.perf_counter() - t0)
            c.sendcontrol("\\")
            c.expect(pexpect.EOF)
            c.close()
        c = pexpect.spawn(
            sys.executable, ["-m", "devx", "attach"], env=env, encoding="utf-8", timeout=30
        )
        c.expect_exact(PROMPT)
        c.sendline("c")
        c.expect(pexpect.EOF)
        tree.wait(30)
    finally:
        if tree.poll() is None:
            os.killpg(tree.pid, 9)
            tree.wait()
    med_a, med_f = statistics.median(attach) * 1e3, statistics.median(floor) * 1e3
    print(
        f"devx attach -> (Pdb+): median {med_a:6.1f} ms, max {max(attach) * 1e3:6.1f} ms "
        f"over {len(attach)}"
    )
    print(f"floor (devx --version): median {med_f:6.1f} ms")
    print(f"  attach latency over the floor: {med_a - med_f:6.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
