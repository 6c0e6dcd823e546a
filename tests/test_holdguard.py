"""The backstop for a hold whose owner ended with its REPL live (devx.debug.holdguard):
real processes on a real PTY. The path driven: `n` over code that turns tracing off,
so the step's stop never comes and the owner (the served call's task, the thread, the
trio.to_thread job or the asyncio task that paused) ends with its session stepping.
Before the backstop the terminal stayed held for good and the tree's teardown waited on
it forever (the to_thread job's: until trio retired its idle thread, 10 s later)."""

from __future__ import annotations

import pytest

from _pty import EXAMPLES, banner, repl_fixture
from devx.core import schema
from devx.telemetry.readback import load_logs

repl = repl_fixture(EXAMPLES / "debugging")


@pytest.mark.parametrize(
    ("args", "kind", "owner"),
    [
        ((), "PAUSE", "task '__main__.served'"),
        (("thread",), "THREAD", "thread 'bg'"),
        (("to_thread",), "THREAD", "the job of thread 'in_thread from __main__.to_thread_call'"),
        (("asyncio",), "SYNC_PAUSE", "asyncio task 'in_asyncio'"),
    ],
    ids=["task", "thread", "to_thread", "asyncio"],
)
def test_a_hold_whose_owner_ended_is_released(repl, tmp_path, args, kind, owner):
    trace = tmp_path / "t.jsonl"
    r = repl("step_untraced.py", *args, DEVX_TELEMETRY_FILE=str(trace))
    r.expect(banner(kind, "worker", "root/worker"))
    r.prompt()
    r.wait_reading()
    assert "-> untrace()" in r.cmd("n")
    r.child.sendline("n")  # over untrace(): no stop comes back
    r.saw(
        f"[devx] root/worker: {owner} ended holding the terminal, its REPL never left: "
        f"released ({schema.RELEASED_OWNER_ENDED})"
    )
    r.saw("tree ended")
    assert r.finish() == 0
    # the prompt the second `n` was typed at, and none after it
    assert r.log.getvalue().rpartition("-> untrace()")[2].count("(Pdb+)") == 1
    released = [
        (rec["attributes"][schema.HOLDER_PATH], rec["attributes"].get(schema.RELEASE_HOW))
        for rec in load_logs(trace)
        if rec["event_name"] == schema.LOCK_RELEASED
    ]
    assert released == [("root/worker", schema.RELEASED_OWNER_ENDED)]
