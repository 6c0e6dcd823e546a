"""The debugger inside contexts, on a real PTY: examples/debugging/context_*.py."""

from __future__ import annotations

import pytest

from _pty import EXAMPLES, banner, repl_fixture, stops_at_banner_line

pytestmark = pytest.mark.timeout(90)

repl = repl_fixture(EXAMPLES / "debugging")


def test_pause_in_a_callee_context(repl):
    r = repl("context_pause.py")
    r.expect(banner("PAUSE", "adder", "root/adder"))
    out = r.prompt()
    assert "context_pause.py" in out and "adder()" in out
    assert r.cmd("p total").strip().endswith("42")
    assert r.cmd("p base, msg").strip().endswith("(40, 2)")
    where = r.cmd("w")
    assert "_invoke" not in where and "run_callee" not in where
    r.child.sendline("c")
    r.expect_exact("root got 42 (first=40)")
    r.expect_exact("context result: adder done")
    assert r.finish() == 0


def test_crash_in_a_callee_context_walks_up(repl):
    r = repl("context_crash.py")
    r.expect_exact("checker is ready")
    r.expect_exact("5: ok")
    r.expect(banner("CRASH", "checker", "root/checker") + ": ValueError: 50 is over the limit 10")
    out = r.prompt()
    assert "context_crash.py" in out and "checker()" in out
    assert r.cmd("p value, limit").strip().endswith("(50, 10)")
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ValueError")
    assert "main()" in r.prompt()
    r.child.sendline("c")
    r.expect("RemoteActorError: ValueError: 50 is over the limit 10")
    assert r.finish() != 0


def test_pause_from_sync_in_a_callee_context(repl):
    r = repl("context_sync_pause.py")
    r.expect_exact("cruncher says crunching")
    r.expect(banner("SYNC_PAUSE", "cruncher", "root/cruncher"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "context_sync_pause.py(10)crunch()"
    )
    assert r.cmd("p total").strip().endswith("6")
    assert "-> return total + 1" in r.cmd("next")  # `n` is a local here
    assert "cruncher()" in r.cmd("w")
    r.child.sendline("c")
    r.expect_exact("context returned 7")
    assert r.finish() == 0


def test_open_context_on_a_module_not_enabled(repl):
    r = repl("context_module_not_enabled.py")
    r.expect(r"open_context failed: devx\.(runtime\.errors\.)?ModuleNotEnabled")
    r.expect_exact("'other' still serves calls: True")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ")
    r.expect_exact("module '__main__' is not enabled in actor 'root/other'")
    assert "main()" in r.prompt()
    r.child.sendline("c")
    r.expect("pass enable_modules=\\['__main__'\\] when starting it")
    assert r.finish() != 0
    # the child's runtime raised it, no code of the user's ran there: no REPL in the
    # child (before: a CRASH banner there, then pdb's IndexError on no frame to show)
    out = r.log.getvalue()
    assert "CRASH in actor 'other'" not in out and "crash hook" not in out
    assert "IndexError" not in out
