"""The ways into pdb people type by habit (``pdb.set_trace()``, ``pdbp.set_trace()``,
``pdb.post_mortem()``, ``pdb.pm()`` ...) go through the one door in a debug-mode tree,
on a real pseudo-terminal: devx's banner and REPL under the tree's TTY lock, one
prompt on screen at a time; plain pdb stays plain outside. Scenario:
examples/debugging/door_pdb.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _pty import PROMPT, Repl, banner, repl_fixture, stops_at_banner_line
from conftest import scaled, wait_until

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"

repl = repl_fixture(EXAMPLES)

SANE = "terminal: echo=True icanon=True"
ANY_BANNER = r">>> devx ([A-Z_]+) in actor '([^']+)'"


def test_two_children_each_pdb_set_trace_one_prompt_at_a_time(repl):
    """Two children call ``pdb.set_trace()`` at once: one devx REPL after the other,
    each with its banner, the second queued (not on screen) while the first is live."""
    r = repl("door_pdb.py", "set_trace", "two")
    first = r.expect(r">>> devx SYNC_PAUSE in actor '(?P<name>one|two)' \(path root/(?P=name),")
    name = first.group("name")
    other = "two" if name == "one" else "one"
    out = r.prompt()
    assert not re.search(ANY_BANNER, out), f"a second REPL under {name}'s:\n{r.log.getvalue()}"
    stops_at_banner_line(r.child.after + out, "pdb.set_trace()")
    assert "41" in r.cmd("p x")
    # the other child queues behind this REPL (the root's lock file, which `waiters`
    # reads in a child's REPL, is written a moment after the change)
    shown: list[str] = []
    wait_until(
        lambda: shown.append(r.cmd("waiters")) or f"root/{other}: sync_pause at " in shown[-1],
        scaled(20),
        f"{other}'s pdb.set_trace() waiting for the terminal",
    )
    assert "door_pdb.py:" in shown[-1] and "in sync_way()" in shown[-1], shown[-1]
    r.assert_quiet()  # queued, and no second REPL while this one is live
    r.child.sendline("n")  # steps to the next line, the terminal still this REPL's
    out = r.prompt()
    assert "-> y = doubled(x)" in out and ">>> devx" not in out, out
    r.child.sendline("c")
    r.expect(banner("SYNC_PAUSE", other, f"root/{other}"))
    out = r.prompt()
    stops_at_banner_line(r.child.after + out, "pdb.set_trace()")
    assert "41" in r.cmd("p x")
    r.child.sendline("c")
    r.expect_exact("one: set_trace done (41)")
    r.expect_exact("two: set_trace done (41)")
    r.expect_exact(SANE)
    r.expect_exact("door_pdb: all done")
    assert r.finish() == 0


def test_root_pdb_post_mortem_in_except(repl):
    r = repl("door_pdb.py", "post_mortem", "root")
    r.expect(banner("CRASH", "root", "root") + ": ZeroDivisionError: division by zero")
    out = r.prompt()
    assert "Traceback (most recent call last):" in out and "-> _ = 1 / 0" in out, out
    where = r.cmd("w")
    assert "crash()" in where and "sync_way()" in where, where
    assert "trio" not in where, where  # devx's REPL: no runtime frames shown
    r.child.sendline("c")
    r.expect_exact("root: post_mortem done (41)")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_pdbp_set_trace_in_a_child(repl):
    r = repl("door_pdb.py", "pdbp", "child")
    r.expect(banner("SYNC_PAUSE", "one", "root/one"))
    out = r.prompt()
    stops_at_banner_line(r.child.after + out, "pdbp.set_trace()")
    r.child.sendline("n")
    assert "-> y = doubled(x)" in r.prompt()
    r.child.sendline("s")  # into the user's function, as pdb does
    out = r.prompt()
    assert "--Call--" in out and "door_pdb.py" in out and ")doubled()" in out, out
    r.child.sendline("c")
    r.expect_exact("one: pdbp done (41)")
    r.expect_exact(SANE)
    assert r.finish() == 0


@pytest.mark.parametrize(
    "way, reason, source",
    [
        ("from_import", "SYNC_PAUSE", "set_trace()"),
        ("instance", "SYNC_PAUSE", "pdb.Pdb().set_trace()"),
        ("mk_pdb", "SYNC_PAUSE", "devx.debug.mk_pdb().set_trace()"),
        ("thread", "THREAD", "pdb.set_trace()"),
        ("post_mortem_tb", "CRASH", "_ = 1 / 0"),
        ("pm", "CRASH", "_ = 1 / 0"),
        ("pdbp_post_mortem", "CRASH", "_ = 1 / 0"),
    ],
)
def test_every_way_into_pdb_opens_devx_repl(repl, way, reason, source):
    r = repl("door_pdb.py", way, "child")
    r.expect(banner(reason, "one", "root/one"))
    out = r.prompt()
    assert f"-> {source}" in out, out
    r.child.sendline("c")
    r.expect_exact(f"one: {way} done (41)")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_outside_a_debug_tree_pdb_stays_plain(repl):
    """debug_mode=False: pdb's own prompt where pdb stops (the line after the call;
    3.13: the call's own), no banner."""
    r = repl("door_pdb.py", "set_trace", "plain")
    r.expect_exact("(Pdb) ")
    out = r.child.before
    assert ">>> devx" not in out and ")sync_way()\r\n-> " in out, out
    r.child.sendline("p x")
    r.expect_exact("(Pdb) ")
    assert "41" in r.child.before
    r.child.sendline("c")
    r.expect_exact("one: set_trace done (41)")
    assert ">>> devx" not in r.log.getvalue()
    assert r.finish() == 0


def test_python_m_pdb_stop_in_a_debug_tree_waits_its_turn_with_a_banner():
    """``python -m pdb script.py``: that pdb traces the root; once the runtime runs, its
    stop takes the tree's lock with a banner and keeps pdb's own REPL; the rest is pdb's."""
    r = Repl(EXAMPLES / "door_pdb.py", "none", "root", module="pdb")
    try:
        r.expect_exact("(Pdb) ")  # pdb's, before the runtime: plain
        assert ">>> devx" not in r.log.getvalue()
        r.child.sendline("b doubled")
        r.expect_exact("(Pdb) ")
        r.child.sendline("c")
        r.expect(banner("BREAKPOINT", "root", "root") + ": door_pdb.py:\\d+ in doubled\\(\\)")
        r.expect_exact("-> return k * 2")
        r.expect_exact("(Pdb) ")
        r.child.sendline("p k")
        r.expect_exact("(Pdb) ")
        assert "41" in r.child.before
        # its steps go on as pdb's do: each waits for the terminal, but with nobody's
        # REPL in between, no banner at every `n`
        r.child.sendline("n")
        r.expect_exact("--Return--")
        r.expect_exact("(Pdb) ")
        r.child.sendline("n")
        r.expect_exact("-> return y + 1 - 42")
        r.expect_exact("(Pdb) ")
        assert r.log.getvalue().count(">>> devx") == 1, r.log.getvalue()
        r.child.sendline("c")
        r.expect_exact("root: none done (41)")
        r.expect_exact(SANE)
        r.expect_exact("The program finished and will be restarted")
        r.expect_exact("(Pdb) ")
        r.child.sendline("q")
        assert r.finish() == 0
    finally:
        r.close()


@pytest.mark.parametrize("way", ["pdbp", "post_mortem"])
def test_a_plain_child_of_a_debug_tree_refuses_in_one_line(repl, way):
    """A debug_mode=False child cannot take the tree's lock: one line, no REPL."""
    r = repl("door_pdb.py", way, "refused")
    api = "pdb.set_trace()" if way == "pdbp" else "pdb.post_mortem()"
    r.expect_exact(f"[devx] {api} at door_pdb.py:")
    r.expect_exact("actor 'root/one' runs with debug_mode=False")
    r.expect_exact(f"one: {way} done (41)")
    assert r.finish() == 0
    assert PROMPT not in r.log.getvalue() and "(Pdb)" not in r.log.getvalue()


RESTORED = """
import sys, trio, devx
assert "pdb" not in sys.modules and "pdbp" not in sys.modules, "imported with devx"
import bdb
from devx.debug import pdb_habits
before = bdb.Bdb.set_trace
seen = {}
async def main(debug):
    async with devx.open_root_actor(debug_mode=debug):
        import pdb  # imported while the runtime runs: patched as it loads
        seen[debug] = (
            hasattr(pdb.Pdb.interaction, "__devx_wrapped__"),
            hasattr(bdb.Bdb.set_trace, "__devx_wrapped__"),
        )
trio.run(main, True)
assert seen[True] == (True, True), seen
import pdb
trio.run(main, False)
assert seen[False] == (False, False), seen
assert bdb.Bdb.set_trace is before and not hasattr(pdb.Pdb.interaction, "__devx_wrapped__")
assert pdb_habits._Finder not in sys.meta_path and not pdb_habits._wrapped
print("restored")
"""


def test_pdb_patched_only_while_a_debug_mode_runtime_runs():
    """Nothing imports pdb for this; pdb imported during the runtime is patched as it
    loads; all of it is put back when the root's runtime ends, and a non-debug tree
    never touches it."""
    proc = subprocess.run(
        [sys.executable, "-c", RESTORED],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0 and "restored" in proc.stdout, proc.stderr


def test_the_programs_own_debuggers_are_left_alone():
    """A debugger that reads no terminal is the program's, not a way into pdb: a bdb
    tracer that is no pdb (starting itself with ``self.set_trace()``, as a line
    recorder or a profiler does) and a pdb given its own stdin (scripted, remote) work
    in a debug-mode root as outside it (before: the tracer's set_trace opened devx's
    pause instead of tracing, and the scripted pdb's commands never ran)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "scripts" / "programs_own_debuggers.py")],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outside, inside = proc.stdout.splitlines()[-2:]
    assert outside == "outside: recorder [1, 2, 3] scripted 42", proc.stdout
    assert inside == "in the tree: recorder [1, 2, 3] scripted 42", proc.stdout + proc.stderr
    assert "devx" not in proc.stdout.replace("devx:", ""), proc.stdout


NO_STDIN = """
import pdb, sys, trio, devx
async def main():
    async with devx.open_root_actor(debug_mode=True):
        assert sys.stdin is None
        pdb.set_trace()
        print("after set_trace", flush=True)
trio.run(main)
"""


def test_pdb_set_trace_in_a_process_without_stdin_still_goes_through_the_door():
    """A process started with its fd 0 closed has no sys.stdin, and its pdb's stdin is
    None too: that pdb is still the default one, routed (no REPL: no terminal), not a
    plain pdb failing with 'input(): lost sys.stdin'."""
    proc = subprocess.run(
        [sys.executable, "-c", NO_STDIN],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(0),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lost sys.stdin" not in proc.stderr
    assert ">>> devx SYNC_PAUSE in actor 'root'" in proc.stdout + proc.stderr
    assert "after set_trace" in proc.stdout
