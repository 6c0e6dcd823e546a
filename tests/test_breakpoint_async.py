"""``breakpoint()`` and ``pause_from_sync()`` in async code with only
``debug_mode=True`` (no greenback opt-in), on a real PTY
(examples/debugging/breakpoint_async.py): a locked REPL at the breakpoint's line in a
child and in the root, driven with `n`, `w`, `c`; the terminal sane afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

from _pty import EXAMPLES as ALL_EXAMPLES
from _pty import banner, repl_fixture
from conftest import scaled

pytestmark = pytest.mark.timeout(60)

repl = repl_fixture(ALL_EXAMPLES / "debugging")
SCRIPT = "breakpoint_async.py"
SANE = "terminal: echo=True icanon=True"


@pytest.mark.parametrize("where, path", [("child", "root/tally"), ("root", "root")])
def test_breakpoint_in_an_async_function(repl, where, path):
    r = repl(SCRIPT, where)
    name = path.rsplit("/", 1)[-1]
    # the banner names the breakpoint() line, the prompt the line after it
    r.expect(banner("SYNC_PAUSE", name, path) + r": \S+breakpoint_async.py:19 in tally\(\)")
    out = r.prompt()
    assert "breakpoint_async.py(20)tally()" in out and "-> total += 1" in out
    assert r.cmd("p total").strip().endswith("6")
    where_out = r.cmd("w")
    assert "greenback" not in where_out and "devx/debug" not in where_out
    out = r.cmd("n")
    assert "breakpoint_async.py(21)tally()" in out and "-> return total" in out
    assert r.cmd("p total").strip().endswith("7")
    r.child.sendline("c")
    r.expect_exact("result 7")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_pause_from_sync_code_a_childs_task_calls(repl):
    r = repl(SCRIPT, "sync")
    at = r": \S+breakpoint_async.py:26 in scale"
    r.expect(banner("SYNC_PAUSE", "scaler", "root/scaler") + at)
    out = r.prompt()
    assert "breakpoint_async.py(27)scale()" in out and "-> return doubled + 1" in out
    assert r.cmd("p doubled").strip().endswith("40")
    assert "scaler()" in r.cmd("w")  # the async caller is on the stack
    r.child.sendline("c")
    r.expect_exact("result 41")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_greenback_is_imported_by_debug_mode_only():
    code = (
        "import sys, trio, devx\n"
        "async def main(debug):\n"
        "    async with devx.open_root_actor(debug_mode=debug):\n"
        "        print(debug, 'greenback' in sys.modules, flush=True)\n"
        "trio.run(main, False)\n"
        "trio.run(main, True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(30)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["False False", "True True"], out.stdout
