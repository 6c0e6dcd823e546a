"""The README's demo (`make demo`) works, on a terminal and without one."""

from __future__ import annotations

import re

import pytest

from _pty import EXAMPLES, Repl
from conftest import run_script

pytestmark = pytest.mark.timeout(90)

DEMO = EXAMPLES / "demo.py"


def test_demo_without_a_terminal():
    out = run_script(DEMO)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "worker-b tree: demo/worker-b/helper" in text
    assert "worker-a returned 50.1" in text
    assert "the root caught RemoteActorError (boxed ZeroDivisionError)" in text
    assert text.count("stdin is not a terminal") == 2
    timeline = text.split("=== 4.")[1]
    holds = re.findall(r"\+\d+\.\d+ \.\. \+\d+\.\d+\s+(\S+)\s+(\w+)\s+waited", timeline)
    assert holds == [("demo/worker-a", "pause"), ("demo/worker-b", "crash")]
    assert re.search(r"demo/worker-b\s+crash\s+ZeroDivisionError: division by zero", timeline)


def test_demo_on_a_terminal():
    r = Repl(DEMO)
    try:
        r.expect(r">>> devx PAUSE in actor 'worker-a' \(path demo/worker-a, pid \d+\)")
        r.prompt()
        assert r.cmd("p total").strip().endswith("41.75")
        r.child.sendline("c")
        r.expect_exact("worker-a returned 50.1")
        r.expect(r">>> devx CRASH in actor 'worker-b' \(path demo/worker-b, pid \d+\)")
        r.prompt()
        assert r.cmd("p a, b").strip().endswith("(1, 0)")
        r.child.sendline("c")
        r.expect_exact("the root caught RemoteActorError")
        r.expect(r"demo/worker-a\s+pause\s+waited [\d.]+ s\s+held [\d.]+ s")
        r.expect_exact("REPL at demo.py:52 in tally()")
        assert r.finish() == 0
    finally:
        r.close()


def test_a_quit_in_the_demo_still_shows_its_timeline():
    """`q` at the crash's REPL (a habit) ends the tree, as in pdb, with the quit's one
    line; the demo still shows the session's timeline, the quit on record."""
    r = Repl(DEMO)
    try:
        r.expect(r">>> devx PAUSE in actor 'worker-a' \(path demo/worker-a, pid \d+\)")
        r.prompt()
        r.child.sendline("c")
        r.expect(r">>> devx CRASH in actor 'worker-b' \(path demo/worker-b, pid \d+\)")
        r.prompt()
        r.child.sendline("q")
        r.expect_exact("devx: quit from the REPL in actor 'demo/worker-b'")
        r.expect_exact("=== 4. the session as telemetry")
        r.expect(r"demo/worker-b\s+crash\s+waited [\d.]+ s\s+held [\d.]+ s\s+ended: quit")
        assert r.finish() == 1
        after_quit = r.log.getvalue().split("devx: quit from the REPL")[1]
        assert "Traceback" not in after_quit, after_quit  # the quit's line, not a traceback
    finally:
        r.close()
