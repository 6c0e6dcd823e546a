"""The teardown of a child whose trio loop is blocked in sync code, through real trees:
the parent's cancel goes unread, its SIGTERM comes after the cancel grace, and the
child ends itself (lifeline.exit_now) well before the parent's SIGKILL would: a line
on stderr naming it and why, its own children killed, exit 143, and its telemetry's
open spans ended (ERROR, "hard exit: ...") and flushed, within a bound that a dead
collector does not stretch."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import blocked_in, scaled, wait_gone, wait_until
from devx.core import schema
from devx.telemetry.readback import load_logs, load_spans

SCRIPT = Path(__file__).resolve().parent / "scripts" / "hard_exit_tree.py"
SIGTERM_EXIT = 128 + signal.SIGTERM

pytestmark = pytest.mark.timeout(120)


def _blocked_tree(proc_tree, tmp_path: Path, method: str, *args: str, **env: str):
    """Start the tree, wait for its child's loop to be blocked in ``time.sleep``, then
    let the root cancel it; the tree, the child's and the grandchild's pids."""
    trigger = tmp_path / "cancel-now"
    tree = proc_tree(SCRIPT, str(trigger), *args, DEVX_SPAWN_METHOD=method, **env)
    child, leaf = tree.pids()
    if blocked_in(child) is None:
        pytest.skip("no /proc/<pid>/task/*/syscall here: cannot tell the loop is blocked")
    wait_until(
        lambda: (blocked_in(child) or {}).get(child, ("",))[0] in ("clock_nanosleep", "nanosleep"),
        scaled(20),
        "the child's loop blocked in time.sleep",
    )
    trigger.touch()
    return tree, child, leaf


def _child_spans(path: Path, actor: str) -> dict[str, dict]:
    spans = load_spans(path)
    return {s["name"]: s for s in spans if s["attributes"].get(schema.ACTOR_PATH) == actor}


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_blocked_child_ends_itself_before_its_parents_sigkill(proc_tree, tmp_path, method):
    """With the default grace: the parent's SIGTERM comes after 3 s, the child's loop
    does not react, and the child ends itself (exit 143, reported as the SIGTERM end it
    is, never -9), says so naming itself, ends its own child (SIGTERM first: that one
    ends gracefully), and its open spans (its actor span, its side of the context)
    reach the telemetry file ended with the mark."""
    out = tmp_path / "tree.otlp.jsonl"
    tree, child, leaf = _blocked_tree(
        proc_tree,
        tmp_path,
        method,
        "--grandchild",
        DEVX_CANCEL_GRACE="3",
        DEVX_TELEMETRY_FILE=str(out),
    )
    assert tree.wait(scaled(30)) == 0
    stdout, stderr = tree.output()
    assert f"EXIT {SIGTERM_EXIT}" in stdout.splitlines(), (stdout, stderr)
    why = (
        "SIGTERM, and its loop did not react within 1s (blocked in sync code, or at a REPL prompt?)"
    )
    assert f"devx: actor 'root/blocker' (pid {child}): {why}: exiting now" in stderr, stderr
    assert "SIGKILL" not in stderr, stderr  # the parent's: not needed
    assert not wait_gone({child, leaf}), "the blocked child or its child outlived the tree"
    # the grandchild (its loop free) was SIGTERMed first: it ended gracefully, on record
    leaf_span = _child_spans(out, "root/blocker/leaf")[schema.ACTOR_SPAN]["attributes"]
    assert leaf_span[schema.ACTOR_OUTCOME] == "cancelled", leaf_span
    assert leaf_span[schema.CANCEL_REASON] == schema.CANCELLED_BY_SIGTERM

    spans = _child_spans(out, "root/blocker")
    actor, ctx = spans[schema.ACTOR_SPAN], spans[schema.CONTEXT_SPAN]
    for span in (actor, ctx):
        assert span["status_code"] == 2, span  # ERROR
        assert span["status_message"] == f"hard exit: {why}", span
        assert span["attributes"][schema.HARD_EXIT_REASON] == why, span
        assert span["end_ns"] >= span["start_ns"] > 0
    assert ctx["attributes"]["devx.span.unfinished"] is True
    assert ctx["parent_span_id"] == actor["span_id"]
    assert actor["attributes"][schema.ACTOR_OUTCOME] == schema.OUTCOME_HARD_EXIT
    (event,) = [e for e in actor["events"] if e["name"] == schema.HARD_EXIT]
    assert event["attributes"][schema.HARD_EXIT_CODE] == SIGTERM_EXIT
    assert any(
        r["event_name"] == schema.HARD_EXIT and r["span_id"] == actor["span_id"]
        for r in load_logs(out)
    )
    # the parent's record of the exit says the same
    (exit_event,) = [
        e["attributes"]
        for s in load_spans(out)
        for e in s["events"]
        if e["name"] == schema.ACTOR_EXIT and e["attributes"][schema.CHILD_PID] == child
    ]
    assert exit_event[schema.CHILD_EXIT_CODE] == SIGTERM_EXIT
    assert exit_event[schema.CHILD_CANCEL_REQUESTED] is True


class BlackHole:
    """An OTLP/HTTP "collector" that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # read nothing, answer nothing

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_collector_that_never_answers_does_not_hold_a_hard_exit(
    proc_tree, tmp_path, method, black_hole
):
    """The child exports to a collector that takes the connection and never answers
    (its exporter would wait 5 s): the hard exit flushes within its bound all the same,
    so it still ends itself before its parent's SIGKILL (143, not -9), and the telemetry
    file beside the collector has its spans."""
    out = tmp_path / "tree.otlp.jsonl"
    tree, child, _ = _blocked_tree(
        proc_tree,
        tmp_path,
        method,
        DEVX_CANCEL_GRACE="1",
        DEVX_TELEMETRY_FILE=str(out),
        DEVX_TELEMETRY_EXIT_TIMEOUT="0.5",  # the root's own exit, to the same black hole
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{black_hole.port}",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    assert tree.wait(scaled(30)) == 0
    stdout, stderr = tree.output()
    assert f"EXIT {SIGTERM_EXIT}" in stdout.splitlines(), (stdout, stderr)
    assert f"devx: actor 'root/blocker' (pid {child}): SIGTERM, and its loop" in stderr, stderr
    assert black_hole.held, "nothing reached the collector: the test tests nothing"
    spans = _child_spans(out, "root/blocker")
    assert spans[schema.ACTOR_SPAN]["attributes"][schema.ACTOR_OUTCOME] == schema.OUTCOME_HARD_EXIT
    assert schema.HARD_EXIT_REASON in spans[schema.CONTEXT_SPAN]["attributes"]
    assert not wait_gone({child})


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_blocked_grandchild_under_an_idle_child_ends_itself_too(proc_tree, tmp_path, method):
    """root -> mid (idle: its cancel waits for its own child) -> blocker (blocked). The
    root's escalation of mid and mid's of the blocker come together; mid, SIGTERMed
    while it is being cancelled, passes the SIGTERM on and gives its child the time to
    end itself instead of SIGKILLing it at once: the blocker's spans reach the file
    with the mark, and mid ends without its parent's SIGKILL."""
    out = tmp_path / "tree.otlp.jsonl"
    tree, blocker, mid = _blocked_tree(
        proc_tree,
        tmp_path,
        method,
        "--nested",
        DEVX_CANCEL_GRACE="3",
        DEVX_TELEMETRY_FILE=str(out),
    )
    assert tree.wait(scaled(30)) == 0
    stdout, stderr = tree.output()
    (code,) = [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("EXIT ")]
    # mid: graceful once its child is gone (as a rule), else its own hard exit
    assert code in (0, SIGTERM_EXIT), (stdout, stderr)
    assert f"devx: actor 'root/mid/blocker' (pid {blocker}): " in stderr, stderr
    assert "SIGKILL" not in stderr, stderr
    assert not wait_gone({blocker, mid})
    spans = _child_spans(out, "root/mid/blocker")
    actor = spans[schema.ACTOR_SPAN]
    assert actor["attributes"][schema.ACTOR_OUTCOME] == schema.OUTCOME_HARD_EXIT, actor
    assert actor["status_message"].startswith("hard exit: "), actor
    assert schema.HARD_EXIT_REASON in spans[schema.CONTEXT_SPAN]["attributes"]
    if code == 0:  # mid's own record of its child's end
        (exit_event,) = [
            e["attributes"]
            for s in load_spans(out)
            for e in s["events"]
            if e["name"] == schema.ACTOR_EXIT and e["attributes"][schema.CHILD_PID] == blocker
        ]
        assert exit_event[schema.CHILD_EXIT_CODE] == SIGTERM_EXIT


def test_a_sigterm_at_a_childs_prompt_puts_its_repl_on_record(tmp_path):
    """A user's ``kill <pid>`` of a child sitting at its REPL prompt (its loop blocked
    reading the terminal): it ends itself a second later, and its turn at the terminal
    (the hold's span, the REPL's span) reaches the file ended with the hard-exit mark,
    instead of being lost; the root frees the lock and the next REPL gets the terminal."""
    from _pty import Repl, banner

    trace_file = tmp_path / "tree.otlp.jsonl"
    r = Repl("holder_killed.py", DEVX_TELEMETRY_FILE=str(trace_file))
    try:
        r.expect(banner("PAUSE", "doomed", "root/doomed"))
        r.prompt()
        pid = r.repl_pid
        assert pid is not None
        r.wait_reading()
        os.kill(pid, signal.SIGTERM)
        r.expect(rf"devx: actor 'root/doomed' \(pid {pid}\): SIGTERM, and its loop did not react")
        r.expect(
            rf"root: actor 'root/doomed' \(pid {pid}\) exited with code {SIGTERM_EXIT} "
            r"\(its end on a SIGTERM\)"
        )
        r.expect_exact("root: lock freed after its holder died")
        r.expect(banner("PAUSE", "second", "root/second"))
        r.prompt()
        r.child.sendline("c")
        r.expect_exact("root: second child resumed")
        assert r.finish() == 0
    finally:
        r.close()
    spans = _child_spans(trace_file, "root/doomed")
    for name in (schema.LOCK_HELD_SPAN, schema.REPL_SPAN, schema.ACTOR_SPAN):
        assert spans[name]["status_message"].startswith("hard exit: SIGTERM"), spans[name]
        assert schema.HARD_EXIT_REASON in spans[name]["attributes"], spans[name]


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_blocked_child_whose_root_is_sigkilled_leaves_its_spans(proc_tree, tmp_path, method):
    """The other hard exit: the root is SIGKILLed while its child's loop is blocked; the
    child's lifeline cancels it, and after the grace ends it (exit 3, saying its parent
    died): its open spans reach the file ended with that reason."""
    out = tmp_path / "tree.otlp.jsonl"
    trigger = tmp_path / "never"  # (the root dies before it would cancel)
    tree = proc_tree(
        SCRIPT,
        str(trigger),
        DEVX_SPAWN_METHOD=method,
        DEVX_CANCEL_GRACE="1",
        DEVX_TELEMETRY_FILE=str(out),
    )
    child, _ = tree.pids()
    if blocked_in(child) is None:
        pytest.skip("no /proc/<pid>/task/*/syscall here: cannot tell the loop is blocked")
    wait_until(
        lambda: (blocked_in(child) or {}).get(child, ("",))[0] in ("clock_nanosleep", "nanosleep"),
        scaled(20),
        "the child's loop blocked in time.sleep",
    )
    os.kill(tree.pid, signal.SIGKILL)
    tree.wait(scaled(5))
    assert not wait_gone({child}, timeout=scaled(10)), "the child outlived its SIGKILLed root"
    _, stderr = tree.output()
    why = f"its parent (pid {tree.pid}) died and it did not finish within 1s"
    assert f"devx: actor 'root/blocker' (pid {child}): {why}" in stderr, stderr
    spans = _child_spans(out, "root/blocker")
    actor = spans[schema.ACTOR_SPAN]
    assert actor["attributes"][schema.ACTOR_OUTCOME] == schema.OUTCOME_HARD_EXIT, actor
    assert actor["attributes"][schema.HARD_EXIT_REASON].startswith(why), actor
    (event,) = [e for e in actor["events"] if e["name"] == schema.HARD_EXIT]
    assert event["attributes"][schema.HARD_EXIT_CODE] == 3  # lifeline.EXIT_NO_PARENT
    assert spans[schema.CONTEXT_SPAN]["attributes"][schema.HARD_EXIT_REASON].startswith(why)
