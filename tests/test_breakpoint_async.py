"""``breakpoint()`` and ``pause_from_sync()`` in async code with only
``debug_mode=True`` (no greenback opt-in), on a real PTY
(examples/debugging/breakpoint_async.py): a locked REPL at the breakpoint's line in a
child and in the root, driven with `n`, `w`, `c`; the terminal sane afterwards."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import devx
from _pty import EXAMPLES as ALL_EXAMPLES
from _pty import banner, repl_fixture, stops_at_banner_line
from conftest import run_script, scaled

pytestmark = pytest.mark.timeout(60)

EXAMPLES = ALL_EXAMPLES / "debugging"
repl = repl_fixture(EXAMPLES)
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


@pytest.mark.parametrize("arg, path", [("", "root/w"), ("grandchild", "root/mid/w")])
def test_breakpoint_at_the_top_of_a_module_a_child_imports_at_boot(repl, arg, path):
    """trial4's D15: a `breakpoint()` at a module's top level, hit while a child
    imports its `enable_modules` at boot, was a plain pdb outside the tree's lock, and
    the parent's boot watch (no CPU time at a prompt) SIGKILLed the child under the
    user's prompt after DEVX_BOOT_TIMEOUT. It is the tree's REPL now, and the boot
    waits for it however long the user stays; `n` past the module's end leaves it."""
    r = repl("child_import_breakpoint.py", *([arg] if arg else []), DEVX_BOOT_TIMEOUT="1")
    r.expect(banner("SYNC_PAUSE", "w", path))
    out = r.prompt()
    assert "_import_breakpoint.py:5 in <module>()" in out, out  # the banner
    assert re.search(
        r"^> \S+_import_breakpoint\.py\(5\)<module>\(\)\r?\n-> breakpoint\(\)", out, re.M
    )
    r.wait_reading()
    at_prompt = time.monotonic()
    while time.monotonic() < at_prompt + 1 + scaled(2):  # the time under test: the user's
        time.sleep(0.1)
    assert r.cmd("p CONFIG").strip().endswith("{'a': 1}")
    assert "-> VALUE = 42" in r.cmd("n")
    where = r.cmd("w")
    # no frame of importlib's or devx's own files, wherever the checkout lives (a clone
    # named devx has "devx/" in the example's own path)
    devx_src = str(Path(devx.__file__).resolve().parent) + "/"
    assert "importlib" not in where and devx_src not in where, where
    assert "-> def get() -> int:" in r.cmd("n")
    assert "--Return--" in r.cmd("n")
    r.child.sendline("n")  # past the module's end: out of the user's code
    r.expect_exact(f"[devx] stepped out of the paused code in actor '{path}'")
    r.expect_exact("got 42")
    r.expect_exact(SANE)
    assert r.finish() == 0
    text = r.log.getvalue()
    assert "ActorBootError" not in text and "SIGKILL" not in text, text


def test_breakpoint_at_the_top_of_a_module_a_child_imports_without_a_terminal():
    """No terminal: the stop is announced and skipped, and the boot goes on."""
    res = run_script(EXAMPLES / "child_import_breakpoint.py", DEVX_BOOT_TIMEOUT="1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stdin is not a terminal: no REPL, continuing" in res.stdout
    assert "got 42" in res.stdout
