"""Three promises of the debugger, on a real pseudo-terminal (pexpect), each driven
with `c`, `n` and ctrl-c as a person would:

- `q` (or ctrl-d) in any REPL, pause or crash, at any depth, is the last REPL: no
  parent opens one on a user's quit, and the one-line report lists every error the
  tree had before it (a crash waiting in the queue included);
- a pause in a loop keeps its user while a sibling's error tears the tree down:
  teardown waits for the terminal to have been quiet for ``DEVX_REPL_SETTLE`` s;
- a stack dump asked for while a REPL is live is one line per actor on that
  terminal, after the REPL; the full text is in the files and the client's output.

Scenarios: examples/debugging/quit_anywhere.py, settle_pause_loop.py,
dump_under_repl.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _pty import Repl, banner, lock_requests, repl_fixture, stops_at_banner_line
from conftest import scaled, wait_until
from devx.debug import stack
from devx.telemetry.readback import load_logs

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"

repl = repl_fixture(EXAMPLES)
script_repl = repl_fixture(Path(__file__).resolve().parent / "scripts")

SANE = "terminal: echo=True icanon=True"
LEAF_ERROR = "ValueError in actor 'root/middle/leaf': leaf failed on purpose"


def _banners(text: str) -> list[str]:
    return re.findall(r">>> devx [A-Z_]+ in actor '[^']+'", text)


def _shielded_ctrl_c(r: Repl) -> None:
    """ctrl-c at a live prompt: shielded, said so, prompted again."""
    r.wait_reading()
    r.child.sendintr()
    r.expect(r"ctrl-c shielded: root/[\w/]+ is in the REPL")
    r.prompt()


def _leave(r: Repl, how: str) -> None:
    """Leave a crash REPL the way a person might (`n` in a post-mortem goes on as
    `c` does); ctrl-c first is shielded."""
    if how == "ctrl-c":
        _shielded_ctrl_c(r)
        how = "c"
    r.child.sendline(how)


def _quit(r: Repl, how: str) -> None:
    if how == "ctrl-d":
        r.child.sendeof()
    else:
        r.child.sendline("q")


def _ends_quietly(r: Repl, report: str) -> None:
    """The quit's one line, the terminal sane, exit status 1, nothing after."""
    r.expect_exact(f"devx: {report}\r\n")
    r.expect_exact(SANE)
    tail = r.child.before
    assert r.finish() == 1
    assert "Traceback" not in tail and ">>> devx" not in tail, tail


@pytest.mark.parametrize(
    ("leave_leaf", "quit_with"), [("c", "q"), ("n", "ctrl-d"), ("ctrl-c", "q")]
)
def test_quit_in_a_middle_actors_crash_repl_is_the_last_repl(repl, leave_leaf, quit_with):
    r = repl("quit_anywhere.py", "crash")
    r.expect(banner("CRASH", "leaf", "root/middle/leaf") + ": ValueError")
    r.prompt()
    _leave(r, leave_leaf)
    r.expect(banner("CRASH", "middle", "root/middle") + ": RemoteActorError: ValueError")
    r.prompt()
    if quit_with == "q":
        _shielded_ctrl_c(r)  # a ctrl-c in the middle's REPL changes nothing
    _quit(r, quit_with)
    report = f"quit from the REPL in actor 'root/middle'; the tree's error: {LEAF_ERROR}"
    _ends_quietly(r, report)
    assert len(_banners(r.log.getvalue())) == 2, "no REPL in the root after the quit"


def test_quit_in_the_crashing_leafs_repl_reports_its_own_crash(repl):
    r = repl("quit_anywhere.py", "crash")
    r.expect(banner("CRASH", "leaf", "root/middle/leaf") + ": ValueError")
    r.prompt()
    assert r.cmd("p 6 * 7").strip().endswith("42")
    r.child.sendline("q")
    report = f"quit from the REPL in actor 'root/middle/leaf'; the tree's error: {LEAF_ERROR}"
    _ends_quietly(r, report)
    assert len(_banners(r.log.getvalue())) == 1


@pytest.mark.parametrize("before_quit", ["nothing", "n", "ctrl-c", "ctrl-d"])
def test_quit_in_a_grandchilds_pause_repl(repl, before_quit):
    r = repl("quit_anywhere.py", "pause")
    r.expect(banner("PAUSE", "leaf", "root/middle/leaf"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    if before_quit == "n":
        assert '-> note = "stepped past the pause"' in r.cmd("n")
        assert "-> print(" in r.cmd("n")
        assert r.cmd("p note").strip().endswith("'stepped past the pause'")
    elif before_quit == "ctrl-c":
        _shielded_ctrl_c(r)
    _quit(r, "ctrl-d" if before_quit == "ctrl-d" else "q")
    _ends_quietly(r, "quit from the REPL in actor 'root/middle/leaf'")
    text = r.log.getvalue()
    assert len(_banners(text)) == 1 and "leaf resumed: stepped" not in text


@pytest.mark.parametrize("before_quit", ["nothing", "n", "ctrl-c"])
def test_a_crash_queued_behind_the_quit_is_reported_not_opened(repl, tmp_path, before_quit):
    trace = tmp_path / "tree.otlp.jsonl"
    r = repl("quit_anywhere.py", "queued", DEVX_TELEMETRY_FILE=str(trace))
    r.expect(banner("PAUSE", "leaf", "root/middle/leaf"))
    r.prompt()
    # the crasher crashed while this REPL is live: its crash REPL waits in the queue
    wait_until(
        lambda: "root/middle/crasher" in {a["devx.actor.path"] for a in lock_requests(trace)},
        scaled(20),
        "the crasher's lock request",
    )
    if before_quit == "n":
        assert '-> note = "stepped past the pause"' in r.cmd("n")
    elif before_quit == "ctrl-c":
        _shielded_ctrl_c(r)
    r.child.sendline("q")
    _ends_quietly(
        r,
        "quit from the REPL in actor 'root/middle/leaf'; the tree's error: RuntimeError "
        "in actor 'root/middle/crasher': crasher went down while the leaf was paused",
    )
    assert len(_banners(r.log.getvalue())) == 1, "the queued crash opened no REPL"


def _teardown_waits(trace: Path) -> bool:
    return trace.exists() and any(
        "waiting for the REPL of root/looper to end before tearing down" in str(rec.get("body"))
        for rec in load_logs(trace, strict=False)
    )


@pytest.mark.parametrize("turn_with", ["c", "n", "ctrl-c"])
def test_a_pause_loop_keeps_its_user_while_the_tree_is_torn_down(repl, tmp_path, turn_with):
    trace, go = tmp_path / "tree.otlp.jsonl", tmp_path / "go"
    # the window is the machine's pace, not the test's: a loaded CI box may take
    # longer than the default from a `c` to the next pause's request
    settle = f"{scaled(2.0):.2f}"
    r = repl(
        "settle_pause_loop.py",
        DEVX_SETTLE_GO=str(go),
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_REPL_SETTLE=settle,
    )
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    go.touch()  # the failer raises: the root now tears the tree down
    wait_until(lambda: _teardown_waits(trace), scaled(20), "the teardown waiting for the REPL")
    for turn in (1, 2, 3):
        assert r.cmd("p turn").strip().endswith(str(turn))
        if turn_with == "n":  # steps on in the same REPL, then goes round with `c`
            assert "-> print(" in r.cmd("n")
            out = r.cmd("n")
            assert f"looper: turn {turn} done" in out
            assert "-> while True:" in out or "-> turn += 1" in out, out
        elif turn_with == "ctrl-c":
            _shielded_ctrl_c(r)
        r.child.sendline("c")
        r.saw(f"looper: turn {turn} done")
        r.expect(banner("PAUSE", "looper", "root/looper"))  # the next turn's pause
        r.prompt()
    assert r.cmd("p turn").strip().endswith("4")
    r.child.sendline("q")
    _ends_quietly(
        r,
        "quit from the REPL in actor 'root/looper'; the tree's error: RuntimeError in "
        "actor 'root/failer': failer went down while the looper was paused",
    )
    assert ">>> devx CRASH" not in r.log.getvalue()


@pytest.mark.parametrize(
    ("how", "then"),
    [("dump", "c"), ("brief", "n"), ("sigusr1", "ctrl-c")],
)
def test_a_dump_under_a_live_repl_is_one_line_per_actor(repl, tmp_path, how, then):
    rt = tmp_path / "rt"  # a registry of this test's own for `devx dump` to read
    r = repl("dump_under_repl.py", DEVX_RUNTIME_DIR=str(rt))
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    root_pid, sitter_pid = r.child.pid, r.repl_pid
    assert sitter_pid is not None
    logs = [Path(stack.log_path(pid)) for pid in (root_pid, sitter_pid)]
    for log in logs:  # a reused pid's old log is not ours
        log.unlink(missing_ok=True)
    r.wait_reading()
    if how == "sigusr1":
        os.kill(root_pid, signal.SIGUSR1)  # as `kill -USR1 <root pid>` from another shell
        wait_until(
            lambda: all(f.exists() and "end devx stack dump" in f.read_text() for f in logs),
            scaled(20),
            "both dumps in their /tmp files",
        )
    else:
        args = ["--brief"] if how == "brief" else []
        out = subprocess.run(
            [sys.executable, "-m", "devx.cli", "dump", *args, str(root_pid)],
            env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
        assert out.returncode == 0, out.stderr
        assert "root/sitter" in out.stdout  # what was asked for, where it was asked
        full = "===== devx stack dump: root/sitter" in out.stdout
        assert full == (how == "dump"), out.stdout
    # the REPL is as it was: nothing of the dumps on its terminal
    assert r.cmd("p 1").strip().splitlines() == ["p 1", "1"]
    if then == "n":
        assert "-> after = " in r.cmd("n")
    elif then == "ctrl-c":
        _shielded_ctrl_c(r)
    r.child.sendline("c")
    r.expect_exact("sitter paused, then resumed")
    assert r.finish() == 0
    shown = r.log.getvalue()
    after_repl = shown[shown.rindex("(Pdb+) ") :]
    lines = [x for x in after_repl.splitlines() if "devx stack dump" in x]
    assert len(lines) == 2, after_repl  # one per actor, after the REPL ended
    assert all("taken while a REPL was live" in x for x in lines)
    assert "end devx stack dump" not in shown and "-- brief:" not in shown
    for log in logs:  # the full text went to the files
        assert "end devx stack dump" in log.read_text()
        log.unlink(missing_ok=True)


def dump_tree_under_repl(r, pid: int, whose: str) -> Path:
    """While ``r``'s live REPL reads, a dump of the whole tree (`kill -USR1 <root pid>`
    from another shell); returns once actor ``pid``'s full dump is in its /tmp file."""
    log = Path(stack.log_path(pid))
    log.unlink(missing_ok=True)  # a reused pid's old log is not ours
    r.wait_reading()
    os.kill(r.child.pid, signal.SIGUSR1)
    wait_until(
        lambda: log.exists() and "end devx stack dump" in log.read_text(),
        scaled(20),
        f"{whose}'s dump in its /tmp file",
    )
    return log


def test_a_dump_line_of_a_holder_never_lands_in_the_next_repl(repl, tmp_path):
    """p1's REPL is live, p2 waits; a dump of the tree keeps each actor's line back.
    The holder's line is written when its REPL ends, before p2's banner: the holder's
    process then ends while p2's REPL is live, and wrote it there at its exit."""
    rt = tmp_path / "rt"
    r = repl("dump_under_queue.py", DEVX_RUNTIME_DIR=str(rt))
    first = r.expect(r">>> devx PAUSE in actor '(p\d)' \(path root/p\d, pid (?P<pid>\d+)\)")
    holder, holder_pid = first.group(1), int(first.group("pid"))
    r.prompt()
    log = dump_tree_under_repl(r, holder_pid, "the holder")
    r.child.sendline("c")
    nxt = r.expect(r">>> devx PAUSE in actor '(p\d)' \(path root/p\d, pid (?P<pid>\d+)\)")
    assert nxt.group(1) != holder
    r.prompt()
    # the holder's process has ended (its last output with it) while this REPL is live
    wait_until(lambda: not os.path.exists(f"/proc/{holder_pid}"), scaled(20), "the holder's exit")
    assert r.cmd("p 1").strip().splitlines()[-1] == "1"
    shown = r.log.getvalue()
    mark = shown.index(nxt.group(0))  # where the next REPL's banner starts
    under = shown[mark:]
    assert f"root/{holder} " not in under, under  # nothing of the holder's in this REPL
    before = shown[:mark]
    assert re.search(rf"devx stack dump .*root/{holder} ", before), before[-2000:]
    r.child.sendline("c")
    r.expect_exact("returned [10, 20]")
    assert r.finish() == 0
    log.unlink(missing_ok=True)


def test_a_dump_line_of_an_actor_ending_under_another_repl_waits_for_it(script_repl, tmp_path):
    """The sitter's REPL is live; a dump of the tree keeps each actor's line back. The
    quitter (no REPL) then returns and its process ends while that REPL is live: its
    line is not written under the prompt, and comes once the REPL is over."""
    d = tmp_path / "d"
    d.mkdir()
    r = script_repl("dump_beside_repl_exit.py", str(d), DEVX_RUNTIME_DIR=str(tmp_path / "rt"))
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    pid_file = d / "quitter.pid"
    wait_until(pid_file.exists, scaled(20), "the quitter's pid")
    quitter = int(pid_file.read_text())
    log = dump_tree_under_repl(r, quitter, "the quitter")
    (d / "go").touch()
    wait_until(lambda: not os.path.exists(f"/proc/{quitter}"), scaled(20), "the quitter's exit")
    # its exit said nothing under this prompt; the REPL reads on
    assert r.cmd("p 1").strip().splitlines()[-1] == "1"
    under = r.log.getvalue()
    assert "root/quitter" not in under, under[-2000:]
    r.child.sendline("c")
    r.expect_exact("returned [2, 1]")
    r.saw("===== devx stack dump (taken while a REPL was live): root/quitter ")  # not lost
    assert r.finish() == 0
    log.unlink(missing_ok=True)


@pytest.mark.parametrize("mode", ["run", "ctx"])
def test_a_supervisors_except_remote_actor_error_does_not_take_the_quit(script_repl, mode):
    """A worker's caller that catches ``RemoteActorError`` (a supervisor: log the
    failed worker, go on, restart it) took a user's `q` at the worker's REPL for a
    worker failure: the quit arrived boxed as one, the program went on (a later
    pause of the tree quit at once, again caught), and no line said the user quit.
    A quit reaches callers as a quit (``bdb.BdbQuit``), so it ends the tree."""
    r = script_repl("quit_under_supervisor.py", mode)
    r.expect(banner("PAUSE", "worker", "root/worker"))
    r.prompt()
    _quit(r, "q")
    _ends_quietly(r, "quit from the REPL in actor 'root/worker'")
    text = r.log.getvalue()
    assert "worker failed" not in text and "went on" not in text, text
