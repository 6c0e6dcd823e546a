"""SIGTERM to a root (``timeout``, ``docker stop``, a CI job's kill): the tree ends as
on a cancel, its telemetry written, and the process still dies of the signal; a loop
blocked in sync code ends after the grace; a program's own handler is left alone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from conftest import blocked_in, devx_actor_pids, scaled, wait_gone, wait_until
from devx.core import schema
from devx.telemetry.readback import load_spans

SCRIPT = Path(__file__).resolve().parent / "scripts" / "sigterm_root.py"


def _spans(path: Path) -> dict[str, dict]:
    return {
        s["name"] + "/" + s["attributes"].get(schema.ACTOR_PATH, ""): s for s in load_spans(path)
    }


def test_sigterm_ends_the_tree_gracefully_and_the_root_dies_of_it(proc_tree, tmp_path):
    """The root's block unwinds (its ``finally`` runs), the child is cancelled, the
    root's spans reach the file with the cause, then the process dies of SIGTERM as
    the root's block ends: nothing after it runs."""
    out = tmp_path / "term.otlp.jsonl"
    tree = proc_tree(SCRIPT, "wait", DEVX_TELEMETRY_FILE=str(out))
    root, child = map(int, tree.line("READY").split()[1:])
    os.kill(root, signal.SIGTERM)
    assert tree.wait(scaled(15)) == -signal.SIGTERM
    stdout, stderr = tree.output()
    assert "FINALLY" in stdout and "OUT" not in stdout, (stdout, stderr)
    assert not wait_gone({child}), "the child outlived its SIGTERMed root"
    spans = _spans(out)
    tree_span = next(s for s in spans.values() if s["name"] == schema.TREE_SPAN)
    assert tree_span["attributes"][schema.TREE_OUTCOME] == "cancelled", tree_span
    root_span = spans[f"{schema.ACTOR_SPAN}/termroot"]["attributes"]
    assert root_span[schema.ACTOR_OUTCOME] == "cancelled"
    assert root_span[schema.CANCEL_REASON] == schema.CANCELLED_BY_SIGTERM
    assert f"{schema.ACTOR_SPAN}/termroot/server" in spans  # the child flushed too


def test_a_root_blocked_in_sync_code_is_ended_after_the_grace(proc_tree):
    """Its loop cannot take the cancel: after DEVX_CANCEL_GRACE the process ends at
    once, its children SIGKILLed, saying why (as a blocked child does)."""
    tree = proc_tree(SCRIPT, "blocked", DEVX_CANCEL_GRACE="1")
    root, child = map(int, tree.line("READY").split()[1:])
    if blocked_in(root) is None:
        pytest.skip("no /proc/<pid>/task/*/syscall here: cannot tell the loop is blocked")
    wait_until(
        lambda: (blocked_in(root) or {}).get(root, ("",))[0] in ("clock_nanosleep", "nanosleep"),
        scaled(10),
        "the root's loop blocked in time.sleep",
    )
    os.kill(root, signal.SIGTERM)
    assert tree.wait(scaled(15)) == 128 + signal.SIGTERM
    stdout, stderr = tree.output()
    assert "FINALLY" not in stdout
    said = f"actor 'termroot' (pid {root}): SIGTERM, and its loop did not react within 1s"
    assert said in stderr, stderr
    assert not wait_gone({child})


def test_a_root_busy_for_seconds_in_sync_code_ends_gracefully_within_the_grace(proc_tree):
    """The root's loop runs sync chunks, and the one a SIGTERM comes in goes on for 2 s
    (longer than a child's react wait, lifeline.REACT_WAIT): with DEVX_CANCEL_GRACE=20
    the loop takes the cancel when the chunk ends, and the tree ends gracefully (the
    block's finally, the process dying of SIGTERM). 0227ea8 gave the root a child's
    react wait (1 s whatever the grace: no knob left), so it ended itself mid-chunk:
    exit 143, its finally and its children's cleanup skipped, children SIGKILLed."""
    tree = proc_tree(SCRIPT, "busy", DEVX_CANCEL_GRACE="20")
    root, child = map(int, tree.line("READY").split()[1:])
    tree.line("BUSY")  # in a chunk: the SIGTERM has to wait for its end
    os.kill(root, signal.SIGTERM)
    assert tree.wait(scaled(30)) == -signal.SIGTERM, tree.output()
    stdout, stderr = tree.output()
    assert "SIGTERM SEEN" in stdout and "FINALLY" in stdout, (stdout, stderr)
    assert "exiting now" not in stderr, stderr
    assert not wait_gone({child})


def test_a_programs_own_sigterm_handler_is_left_alone(proc_tree, tmp_path):
    """Installed while the root runs (over devx's): SIGTERM is the program's, and devx
    does not put its own back or re-raise anything when the root ends."""
    seen = tmp_path / "seen"
    before = devx_actor_pids()
    tree = proc_tree(SCRIPT, "own", str(seen))
    root, child = map(int, tree.line("READY").split()[1:])
    os.kill(root, signal.SIGTERM)
    assert tree.line("OWN HANDLER")
    seen.touch()
    assert tree.wait(scaled(15)) == 0
    stdout, _ = tree.output()
    assert "FINALLY" in stdout and "OUT" in stdout and "AFTER" in stdout
    assert not wait_gone({child}) and devx_actor_pids() <= before


def test_sigterm_at_the_roots_prompt_leaves_the_terminal_sane():
    """The root's own REPL keeps its loop from taking the cancel: after the grace the
    process ends (exit 143, saying why), and puts back the terminal settings it saved
    at boot first (a prompt on screen had echo and line editing off)."""
    import termios

    import pexpect

    from _pty import Repl, banner

    r = Repl("root_pause.py", DEVX_CANCEL_GRACE="1")
    try:
        r.expect(banner("PAUSE", "root", "root"))
        r.prompt()
        r.wait_reading()  # the prompt is up: readline owns the terminal's settings now
        os.kill(r.child.pid, signal.SIGTERM)
        r.expect("SIGTERM, and its loop did not react within 1s")
        r.expect(pexpect.EOF)
        lflag = termios.tcgetattr(r.child.child_fd)[3]
        assert lflag & termios.ECHO and lflag & termios.ICANON, r.log.getvalue()
        r.child.close()
        assert r.child.exitstatus == 128 + signal.SIGTERM
    finally:
        r.close()


def test_a_childs_prompt_whose_root_was_sigkilled_leaves_the_terminal_sane():
    """The root SIGKILLed (from another shell) while a child's REPL is on screen:
    nobody is left to put the terminal back (the root does it for a holder that
    dies), and the child, its loop blocked at the prompt, ends itself after the
    grace. It puts back the settings it saved when its REPL began first: the shell
    the user got back had no echo and no line editing (readline's raw mode, left by
    the child's hard exit)."""
    from _pty import EXAMPLES, Repl, banner

    shell = Path(__file__).parent / "scripts" / "like_a_shell.py"
    example = EXAMPLES / "debugging" / "queue_three.py"
    r = Repl(shell, str(example), DEVX_CANCEL_GRACE="1")
    try:
        r.expect(banner("PAUSE", "p0", "root/p0"))
        holder = r.repl_pid
        assert holder is not None
        r.prompt()
        r.wait_reading()  # the prompt is up: readline owns the terminal's settings now
        (pid,) = Path(f"/proc/{r.child.pid}/task/{r.child.pid}/children").read_text().split()
        root = int(pid)  # the program the shell runs: the tree's root
        os.kill(root, signal.SIGKILL)
        r.expect_exact("PROGRAM EXITED -9")
        r.expect(f"actor 'root/p0' \\(pid {holder}\\): its parent \\(pid {root}\\) died")
        assert not wait_gone({holder}, scaled(10))
        r.child.sendline("")
        r.expect_exact("terminal: echo=True icanon=True")
    finally:
        r.close()
