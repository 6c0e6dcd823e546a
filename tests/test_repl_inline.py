"""Pauses inside RPC calls of both kinds on a real PTY (see tests/scripts/
inline_pause.py): the REPL opens in the call, at the user's frame, and the call
resumes after ``c``, with only ``debug_mode=True``; a sync pause in a sync RPC
function too (in debug mode it runs in a task of its own, not inline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _pty import banner, repl_fixture

pytestmark = pytest.mark.timeout(60)

repl = repl_fixture(Path(__file__).parent / "scripts")


def test_pauses_in_an_awaiting_and_a_no_await_call(repl):
    r = repl("inline_pause.py")
    r.expect(banner("PAUSE", "worker", "root/worker"))
    out = r.prompt()
    assert "pause_awaiting()" in out
    assert r.cmd("p x").strip().endswith("41")
    r.child.sendline("c")
    r.expect_exact("awaiting call resumed: 42")
    r.expect(banner("SYNC_PAUSE", "worker", "root/worker"))
    out = r.prompt()
    assert "sync_pause_no_await()" in out
    assert r.cmd("p y").strip().endswith("6")
    r.child.sendline("c")
    r.expect_exact("no-await call resumed: 42")
    assert r.finish() == 0


def test_a_sync_pause_in_a_sync_rpc_function_opens_its_repl(repl):
    """Debug mode runs a sync RPC function in a task with a portal: its REPL at the
    user's frame, and the call resumes after ``c`` (it was a GreenbackNotEnabled)."""
    r = repl("inline_pause.py", "--sync-rpc")
    r.expect(banner("SYNC_PAUSE", "worker", "root/worker"))
    assert "inline_pause.py(30)sync_rpc_pause()" in r.prompt()
    assert r.cmd("p y").strip().endswith("6")
    r.child.sendline("c")
    r.expect_exact("sync call resumed: 42")
    assert r.finish() == 0
