"""``breakpoint()`` and ``pause_from_sync()`` in async code with only
``debug_mode=True`` (no greenback opt-in), on a real PTY
(examples/debugging/breakpoint_async.py): a locked REPL at the breakpoint's line in a
child and in the root, driven with `n`, `w`, `c`; the terminal sane afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

from _pty import EXAMPLES as ALL_EXAMPLES
from _pty import banner, repl_fixture, stops_at_banner_line
from conftest import scaled

pytestmark = pytest.mark.timeout(60)

repl = repl_fixture(ALL_EXAMPLES / "debugging")
SCRIPT = "breakpoint_async.py"
SANE = "terminal: echo=True icanon=True"


@pytest.mark.parametrize("where, path", [("child", "root/tally"), ("root", "root")])
def test_breakpoint_in_an_async_function(repl, where, path):
    r = repl(SCRIPT, where)
    name = path.rsplit("/", 1)[-1]
    # the banner and the prompt name the breakpoint() line, on every Python
    r.expect(banner("SYNC_PAUSE", name, path))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> breakpoint()") == "breakpoint_async.py(19)tally()"
    assert r.cmd("p total").strip().endswith("6")
    where_out = r.cmd("w")
    assert "greenback" not in where_out and "devx/debug" not in where_out
    out = r.cmd("n")
    assert "breakpoint_async.py(20)tally()" in out and "-> total += 1" in out
    out = r.cmd("n")
    assert "breakpoint_async.py(21)tally()" in out and "-> return total" in out
    assert r.cmd("p total").strip().endswith("7")
    r.child.sendline("c")
    r.expect_exact("result 7")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_pause_from_sync_code_a_childs_task_calls(repl):
    r = repl(SCRIPT, "sync")
    r.expect(banner("SYNC_PAUSE", "scaler", "root/scaler"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "breakpoint_async.py(26)scale()"
    )
    assert r.cmd("p doubled").strip().endswith("40")
    assert "-> return doubled + 1" in r.cmd("n")
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
