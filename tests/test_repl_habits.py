"""The debugger under a person's pdb habits, on a real pseudo-terminal: `n` through
re-entrant pauses, stepping out of the user's code, `s`/`r`/`until`, `w`, `q` and
ctrl-d, shielded post-mortems, cancellation while spawning, FIFO grants.
Scenarios live in examples/debugging/habits_*.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import trio

import devx
from _pty import Repl, assert_fits, banner, repl_fixture, stops_at_banner_line
from conftest import run_script, scaled, wait_until
from devx.core import schema
from devx.telemetry.readback import load_logs

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"
# where devx's and trio's own frames come from (never shown to the user)
DEVX_SRC = str(Path(devx.__file__).resolve().parent) + "/"
TRIO_SRC = str(Path(trio.__file__).resolve().parent) + "/"

repl = repl_fixture(EXAMPLES)
PROMPT_TAIL = re.compile(r": the REPL ends\r?\n.*\(Pdb\+\)", re.S)

LOOP = "habits_step_loop.py"
STEPPED_OUT = "[devx] stepped out of the paused code in actor"


def _count_banners(text: str) -> int:
    return len(re.findall(r">>> devx [A-Z_]+ in actor", text))


def _next_turn_then_the_end(r: Repl) -> None:
    """child_pause_loop.py, at its first turn's REPL: `c`, the next turn pauses again,
    `c` there, and the tree ends with the child's result and exit code 0."""
    r.child.sendline("c")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("child returned 1")
    assert r.finish() == 0


@pytest.mark.parametrize("where, path", [("child", "root/looper"), ("root", "root")])
def test_next_through_a_loop_of_pauses_reenters_the_same_repl(repl, where, path):
    turns = 4
    r = repl(LOOP, where, str(turns))
    name = path.rsplit("/", 1)[-1]
    r.expect(banner("PAUSE", name, path))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    stops = []
    # `n` ten times: through the pause of every later turn, never a second banner
    for _ in range(10):
        out = r.cmd("n")
        m = re.search(r"loop_and_pause\(\)\s+-> (.*)", out)
        assert m, f"each `n` stops in the user's function:\n{out}"
        stops.append(m.group(1).strip())
    # the next line, then each later turn: the loop head, its pause, over the pause
    # (re-entered) onto the next line
    turn = ["for i in range(turns):", "await devx.pause()", "total += i"]
    assert stops == ["total += i", *turn * 3], stops
    assert _count_banners(r.log.getvalue()) == 1
    assert r.cmd("p i").strip().endswith("3")
    r.child.sendline("c")
    r.expect_exact(f"loop returned {sum(range(turns))}")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0


def test_debug_is_refused_and_the_repl_goes_on(repl):
    """pdb's `debug CODE` (a recursive debugger) in a child's REPL: its stops went
    through the door as a second turn (a BREAKPOINT banner), its first `n` left it,
    the outer REPL's `n` then ran the call to its end with the hold never released,
    and the tree hung at exit. Now refused in one line; the REPL steps on."""
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "*** debug: the recursive debugger is not available" in r.cmd("debug total + 1")
    assert "-> total += i" in r.cmd("n")
    _next_turn_then_the_end(r)
    assert _count_banners(r.log.getvalue()) == 2


@pytest.mark.parametrize(("where", "path"), [("root", "root"), ("child", "root/stepper")])
def test_next_over_a_call_that_raises_stops_on_its_line(repl, where, path):
    """`n` over `await portal.run(f)` whose callee fails, then over trio's sleep with
    a bad argument, both in a `try` that catches the error: pdb stops on the line with
    the error, as it does for any raising call. pdbp counted the hidden frames of the
    error's traceback (devx's, trio's, under the user's frame) off the stop's index:
    the actor crashed on pdb's IndexError and the user's `except` never ran (trial10)."""
    r = repl("step_over_raising_call.py", where)
    r.expect(banner("PAUSE", path.rsplit("/", 1)[-1], path))
    r.prompt()
    assert "-> try:" in r.cmd("n")
    assert "-> await portal.run(fails)" in r.cmd("n")
    out = r.cmd("n")
    assert "RemoteActorError: ValueError: the callee failed on purpose" in out, out
    assert "IndexError" not in out and "-> await portal.run(fails)" in out, out
    shown = r.cmd("w")
    assert "caller()" in shown and DEVX_SRC not in shown and TRIO_SRC not in shown, shown
    assert "-> except devx.RemoteActorError as exc:" in r.cmd("n")
    assert "-> caught.append(type(exc).__name__)" in r.cmd("n")
    assert "-> try:" in r.cmd("n")
    assert "-> await trio.sleep(-1)" in r.cmd("n")
    out = r.cmd("n")
    assert "ValueError" in out and "-> await trio.sleep(-1)" in out, out
    assert "-> except ValueError:" in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("caught: RemoteActorError ValueError")
    assert r.finish() == 0
    assert "CRASH" not in r.log.getvalue()


@pytest.mark.parametrize("leave", ["exit()", "quit()", "raise SystemExit(3)"])
def test_leaving_the_interact_console_is_back_at_the_prompt(repl, leave):
    """`interact`, then `exit()` (the way out of any Python console) in a child's REPL:
    the console's SystemExit went through the REPL's trace function into the paused
    code, pdb stopped on it with no frame to show, and the actor crashed with pdb's
    own IndexError (a root crash REPL on it). As 3.13's pdb does (its console's
    local exit), leaving the console is back at the same REPL, on every Python."""
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    r.child.sendline("interact")
    r.expect(r"\*(interactive|pdb interact start)\*")
    r.expect_exact(">>> ")
    r.child.sendline("total = 40 + 2")
    r.expect_exact(">>> ")
    r.child.sendline(leave)
    out = r.prompt()
    assert "Traceback" not in out and "IndexError" not in out, out
    assert ">>> devx" not in out, out
    assert "-> await devx.pause()" in r.cmd("w")  # the same REPL, at its line
    assert r.cmd("p i").strip().endswith("0")
    _next_turn_then_the_end(r)
    assert "CRASH" not in r.log.getvalue()


def test_interact_in_a_tree_run_without_site(repl):
    """A tree run with ``python -S`` (no site, as an embedded or frozen Python may run:
    builtins has no exit nor quit; its actors run so too): `interact` in a child's REPL
    crashed the actor on 3.11/3.12 (an AttributeError from the command, out of the
    trace function into the paused code: a root crash REPL on pdb's IndexError). Its
    console has an exit() and quit() of its own there, and ctrl-d leaves it as ever."""
    paths = sysconfig.get_paths()
    where = [str(Path(devx.__file__).resolve().parents[1]), paths["purelib"], paths["platlib"]]
    r = repl("child_pause_loop.py", python_flags=("-S",), PYTHONPATH=os.pathsep.join(where))
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    for leave in ("exit()", "\x04"):
        r.child.sendline("interact")
        r.expect(r"\*(interactive|pdb interact start)\*")
        r.expect_exact(">>> ")
        if leave == "\x04":
            r.child.sendcontrol("d")
        else:
            r.child.sendline(leave)
        out = r.prompt()
        assert "Traceback" not in out and "Error" not in out, out
    assert "-> await devx.pause()" in r.cmd("w")  # the same REPL, at its line
    _next_turn_then_the_end(r)
    assert "CRASH" not in r.log.getvalue()


def test_a_breakpoints_commands_run_in_its_turn_at_the_terminal(repl):
    """`b double`, `commands 1` (`p` a local, `end`), `c` in a child's REPL: the
    breakpoint, hit after the REPL gave the terminal up, ran its commands and
    prompted right there, through pdb's own loop: no banner, nobody holding the
    terminal (`waiters`, `devx ps`: another actor's REPL could prompt at the same
    time) (trial10). It takes its turn as any stop, then runs the commands; a list
    ending in `c` goes on after them, each hit in its own turn."""
    r = repl("bp_commands.py")
    r.expect(banner("PAUSE", "worker", "root/worker"))
    r.prompt()
    assert "Breakpoint 1 at" in r.cmd("b double")
    for line in ("commands 1", 'p ("v is", v)'):
        r.child.sendline(line)
        r.expect_exact("(com) ")
    r.child.sendline("end")
    r.prompt()
    r.child.sendline("c")
    r.expect(banner("BREAKPOINT", "worker", "root/worker"))
    out = r.prompt()
    assert "-> w = v * 2" in out and "('v is', 0)" in out, out
    holder = r.cmd("waiters")
    assert re.search(
        r"holder: root/worker: breakpoint at bp_commands\.py:\d+ in double\(\)", holder
    ), holder
    for line in ("commands 1", "silent", 'p ("v is", v)'):
        r.child.sendline(line)
        r.expect_exact("(com) ")
    r.child.sendline("c")  # (a resuming command ends the list)
    r.prompt()
    r.child.sendline("c")
    for v in (1, 2):
        r.expect(banner("BREAKPOINT", "worker", "root/worker"))
        r.expect_exact(f"('v is', {v})")
    r.expect_exact("child returned 6")
    assert r.finish() == 0


@pytest.mark.parametrize("typed", ["exit()", "quit()"])
def test_exit_typed_at_the_prompt_quits_as_q(repl, typed):
    """`exit()` at a child's `(Pdb+)` prompt (the way out of Python): site's exit
    closed stdin and raised SystemExit, pdb printed '*** SystemExit: None', the REPL's
    next read failed on the closed file and the actor crashed ('ValueError: I/O
    operation on closed file', a root crash REPL on it) (trial10). It quits as `q`."""
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    r.child.sendline(typed)
    r.expect_exact("devx: quit from the REPL in actor 'root/looper'")
    status = r.finish()
    log = r.log.getvalue()
    assert status != 0
    assert "SystemExit" not in log and "closed file" not in log and "CRASH" not in log, log


@pytest.mark.parametrize("command", ["restart", "run --flag"])
def test_restart_is_refused_and_the_repl_goes_on(repl, command):
    """pdb's `restart`/`run` (for a program `python -m pdb` runs) in a child's REPL:
    pdbp's Restart went out of the command loop into the paused code and the actor
    crashed on pdb's frames (trial10). Now refused in one line; the REPL goes on."""
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    out = r.cmd(command)
    assert "*** restart: not available in a devx REPL" in out, out
    assert "-> total += i" in r.cmd("n")
    _next_turn_then_the_end(r)
    assert "CRASH" not in r.log.getvalue() and "Restart" not in r.log.getvalue()


def test_next_out_of_a_childs_function_ends_the_repl_and_the_tree_exits(repl):
    r = repl(LOOP, "child", "1")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    out = ""
    for _ in range(6):  # `total += i`, the loop head, `return total`, then out
        r.child.sendline("n")
        idx = r.child.expect_exact(["(Pdb+) ", STEPPED_OUT], timeout=scaled(10))
        out = r.child.before
        if idx == 1:
            break
    else:
        raise AssertionError(f"never stepped out:\n{r.log.getvalue()}")
    assert "Internal StopIteration" not in r.log.getvalue()
    assert DEVX_SRC not in out
    r.expect(r"'root/looper':\s+the REPL ends as with 'c'")  # (on a line of its own)
    assert_fits(r.log.getvalue())
    r.expect_exact("loop returned 0")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    assert _count_banners(r.log.getvalue()) == 1


def test_step_into_return_until_and_where(repl):
    r = repl("habits_step_into.py")
    r.expect(banner("PAUSE", "stepper", "root/stepper"))
    r.prompt()
    where = r.cmd("w")
    assert "habits_step_into.py(25)work()\r\n-> await devx.pause()" in where
    # no frame of devx's or trio's own files, wherever the checkout lives (a clone
    # named devx has "devx/" in the example's own path)
    for hidden in (DEVX_SRC, TRIO_SRC, "runpy"):
        assert hidden not in where, f"`w` shows {hidden!r}:\n{where}"
    assert "-> a = double(3)" in r.cmd("s")  # the pause is done: its next line
    assert "double()" in r.cmd("s")  # into a sync helper
    out = r.cmd("r")
    assert "--Return--" in out and "double()->6" in out
    assert "-> b = await add_one(a)" in r.cmd("s")  # back in work()
    assert "add_one()" in r.cmd("s")  # into a coroutine
    assert "-> await trio.sleep(0)" in r.cmd("n")
    out = r.cmd("n")  # over the await: still in add_one, never in trio
    assert "add_one()" in out and "-> z = x + 1" in out, out
    assert "-> return z" in r.cmd("n")
    out = r.cmd("n")  # past a coroutine's end: the caller's next line
    assert "work()" in out and "-> total = 0" in out, out
    assert "-> for i in range(3):" in r.cmd("n")
    assert "-> total += i" in r.cmd("n")
    assert "-> after_loop = total + a + b" in r.cmd("until")  # the loop runs out
    assert r.cmd("p total").strip().endswith("3")
    r.child.sendline("c")
    r.expect_exact("work returned 16")
    assert r.finish() == 0


@pytest.mark.parametrize("keys", ["q", "ctrl-d"])
def test_quit_in_a_child_is_one_line(repl, keys):
    r = repl(LOOP, "child", "2")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    if keys == "q":
        r.child.sendline("q")
    else:
        r.child.sendeof()
    r.expect_exact("devx: quit from the REPL in actor 'root/looper'")
    code = r.finish()
    text = r.log.getvalue()
    assert code == 1
    assert "bdb.py" not in text and "Traceback" not in text, text
    assert _count_banners(text) == 1, "no parent opens a REPL on a user's quit"


def test_shielded_post_mortem_in_a_cancelled_scope(repl):
    r = repl("habits_shielded_post_mortem.py")
    r.expect(banner("CRASH", "root", "root") + ": ValueError: the answer was 42")
    out = r.prompt()
    assert "habits_shielded_post_mortem.py" in out
    assert r.cmd("p answer").strip().endswith("42")
    r.child.sendline("c")
    r.expect_exact("root: after the shielded post-mortem")
    assert r.finish() == 0


def test_cancelling_an_actor_while_it_spawns_is_not_a_crash(repl):
    r = repl("habits_cancel_spawn.py")
    r.expect_exact("cancelling root/mid")
    r.expect_exact("root: the call ended with None")  # our own cancel: not raised back
    assert r.finish() == 0
    text = r.log.getvalue()
    assert ">>> devx" not in text, f"a crash REPL opened on a cancellation:\n{text}"
    assert "BaseExceptionGroup" not in text and "trio.Cancelled" not in text


def test_queued_repls_are_granted_in_the_order_they_were_asked(tmp_path):
    count = 8
    trace = tmp_path / "fifo.otlp.jsonl"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "habits_fifo.py"), str(count)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env={**__import__("os").environ, "DEVX_TELEMETRY_FILE": str(trace)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "root: all served" in proc.stdout
    logs = load_logs(trace)
    requested = {
        log["attributes"][schema.REQUEST_ID]: log["attributes"][schema.REQUESTED_AT]
        for log in logs
        if log["event_name"] == schema.LOCK_REQUESTED
    }
    grants = sorted(
        (log["attributes"] for log in logs if log["event_name"] == schema.LOCK_GRANTED),
        key=lambda a: a[schema.HOLD_ID],
    )
    children = [g for g in grants if g[schema.HOLDER_PATH] != "root"]
    assert len(children) == count
    asked = [requested[g[schema.REQUEST_ID]] for g in children]
    assert asked == sorted(asked), "grants out of the order the requests were made"
    # each banner says how many wait behind it, counting down
    assert [g[schema.QUEUED] for g in children] == list(range(count - 1, -1, -1))
    released = [log for log in logs if log["event_name"] == schema.LOCK_RELEASED]
    assert {r["attributes"][schema.HOLD_ID] for r in released} == {
        g[schema.HOLD_ID] for g in grants
    }


def test_nothing_devx_writes_lands_under_a_live_prompt(repl, tmp_path):
    go, paths = tmp_path / "go", tmp_path / "paths"
    r = repl("habits_quiet.py", DEVX_QUIET_GO=str(go), DEVX_QUIET_PATHS=str(paths))
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    r.wait_reading()
    go.touch()  # the root now logs a devx warning and dumps every actor's stacks

    def dumps_written() -> bool:
        if not paths.exists() or not paths.read_text():
            return False
        files = [Path(p) for p in paths.read_text().splitlines()]
        return all(f.exists() and "end devx stack dump" in f.read_text() for f in files)

    wait_until(dumps_written, scaled(20), "both stack dumps in their /tmp files")
    # the dumps are done and the warning was logged: none of it is on the screen
    assert r.cmd("p 40+2").strip().splitlines() == ["p 40+2", "42"]
    assert r.cmd("p 1").strip().splitlines() == ["p 1", "1"]
    shown = r.log.getvalue()
    assert "devx warning" not in shown and "devx stack dump: root " not in shown
    r.child.sendline("c")  # after the release, in no set order between the processes:
    r.saw("child resumed")
    r.saw("a devx warning while the REPL is live")
    # each dump is one line on the terminal (the full text is in its file)
    r.saw("===== devx stack dump (taken while a REPL was live): root root@")
    r.saw("===== devx stack dump (taken while a REPL was live): root/sitter sitter@")
    assert r.finish() == 0
    assert "end devx stack dump" not in r.log.getvalue()
    for log in paths.read_text().splitlines():  # /tmp logs are per pid: leave none behind
        Path(log).unlink(missing_ok=True)


def test_a_dump_of_an_actor_blocked_in_sync_code_keeps_off_a_live_prompt(tmp_path):
    """A worker hangs in sync code while another's REPL is live, and the user dumps
    the tree (`devx dump`, `kill -USR1`): the hung worker's loop reads none of the lock
    states the root pushes, so it took the tree for idle and wrote its whole dump
    (80 lines) under the prompt. It reads the root's lock file instead: its terminal
    copy is the one line, written once its loop runs again after the release."""
    from _pty import Repl

    go, paths, unblock = tmp_path / "go", tmp_path / "paths", tmp_path / "unblock"
    script = Path(__file__).parent / "scripts" / "dump_blocked_under_repl.py"
    r = Repl(
        script,
        dimensions=(50, 200),
        DUMP_GO=str(go),
        DUMP_PATHS=str(paths),
        DUMP_UNBLOCK=str(unblock),
    )
    try:
        r.expect(banner("PAUSE", "sitter", "root/sitter"))
        r.prompt()
        r.wait_reading()
        from devx.debug import lock_file

        def in_the_lock_file() -> bool:  # (written within 0.1 s of the grant, off-thread)
            return any(t.pid == r.child.pid and t.state.hold_id for t in lock_file.trees())

        # as `devx ps` shows the holder: what the blocked actor reads
        wait_until(in_the_lock_file, scaled(10), "the hold in the root's lock file")
        go.touch()  # the root dumps every actor's stacks, the blocked one's too

        def dumps_written() -> bool:
            if not paths.exists() or not paths.read_text():
                return False
            files = [Path(p) for p in paths.read_text().splitlines()]
            return all(f.exists() and "end devx stack dump" in f.read_text() for f in files)

        wait_until(dumps_written, scaled(20), "the three stack dumps in their /tmp files")
        assert r.cmd("p 40+2").strip().splitlines() == ["p 40+2", "42"]
        assert r.cmd("p 1").strip().splitlines() == ["p 1", "1"]
        shown = r.log.getvalue()
        assert "devx stack dump" not in shown, shown
        r.child.sendline("c")
        r.saw("sitter resumed")
        unblock.touch()
        r.saw("blocker resumed")
        r.saw("===== devx stack dump (taken while a REPL was live): root/blocker blocker@")
        assert r.finish() == 0
        assert "end devx stack dump" not in r.log.getvalue(), r.log.getvalue()
    finally:
        r.close()
        if paths.exists():  # /tmp logs are per pid: leave none behind
            for log in paths.read_text().splitlines():
                Path(log).unlink(missing_ok=True)


def test_ctrl_c_stays_shielded_in_a_reentered_repl(repl):
    r = repl(LOOP, "child", "3")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "-> total += i" in r.cmd("n")
    assert "-> for i in range(turns):" in r.cmd("n")
    assert "-> await devx.pause()" in r.cmd("n")
    assert "-> total += i" in r.cmd("n")  # over the next turn's pause: re-entered
    assert r.cmd("p i").strip().endswith("1")
    r.wait_reading()
    r.child.sendintr()  # ctrl-c: SIGINT to the whole foreground process group
    r.expect_exact("ctrl-c shielded: root/looper is in the REPL")
    r.prompt()  # prompted again, the tree untouched
    assert r.cmd("p i").strip().endswith("1")
    r.child.sendline("c")  # the last turn pauses anew: a second banner
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("loop returned 3")
    assert r.finish() == 0
    assert _count_banners(r.log.getvalue()) == 2


def test_a_cancel_never_kills_an_actor_whose_repl_is_live(repl, tmp_path):
    from devx.telemetry.readback import load_logs

    trace, go = tmp_path / "t.jsonl", tmp_path / "go"
    r = repl(
        "habits_cancel_under_repl.py",
        DEVX_CANCEL_GRACE="1",
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_CANCEL_GO=str(go),
    )
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    r.wait_reading()
    go.touch()  # now the root cancels the child under its live REPL
    r.saw("root: cancelling root/sitter")

    def escalation_waits() -> bool:  # the grace ran out, and the root waits for the REPL
        return trace.exists() and any(
            "waiting for the REPL of root/sitter" in str(rec.get("body"))
            for rec in load_logs(trace, strict=False)
        )

    wait_until(escalation_waits, scaled(20), "the escalation waiting for the REPL")
    assert r.cmd("p 6 * 7").strip().splitlines() == ["p 6 * 7", "42"]  # alive, no SIGTERM
    r.child.sendline("c")
    r.saw("root: cancel_actor returned graceful=True")
    assert r.finish() == 0


@pytest.mark.parametrize(
    "mode, why",
    [
        ("call", r"root/w: the call this REPL serves was cancelled by root@\w+"),
        ("actor", r"root/w: cancelled by parent \(root@\w+\)"),
    ],
)
def test_a_repl_ended_by_a_cancel_from_outside_says_why(repl, tmp_path, mode, why):
    """trial4's O3: a step that meets a cancel from outside its actor (the caller's
    timeout on the call, or the actor cancelled) ends the REPL, as it must (no prompt
    while the code unwinds); the prompt used to vanish with no word. One line now says
    which actor and who cancelled it, while this REPL still holds the terminal."""
    go = tmp_path / "go"
    r = repl("cancel_under_step.py", mode, DEVX_CANCEL_GO=str(go))
    r.expect(banner("PAUSE", "w", "root/w"))
    r.prompt()
    r.wait_reading()
    go.touch()  # now the root cancels, under the live REPL
    r.saw("root: the call was cancelled: True" if mode == "call" else "root: cancelling root/w")
    assert "-> x += 1" in r.cmd("next")
    assert "-> await trio.sleep(0.1)" in r.cmd("next")
    r.child.sendline("next")  # over `await trio.sleep(0.1)`: the cancel is delivered
    r.expect(rf"\[devx\] {why}: the REPL ends\r?\n")
    if mode == "call":  # (the child may serve it before its task meets the cancel)
        r.saw("root: after: served")
    assert r.finish() == 0
    text = r.log.getvalue()
    assert len(re.findall(r"\[devx\] root/w: .*: the REPL ends", text)) == 1, text
    assert PROMPT_TAIL.search(text) is None, text  # no prompt after the line


def test_a_hard_kill_under_a_live_repl_frees_the_lock_and_the_terminal(repl, tmp_path):
    """``cancel_actor(hard_kill=True)`` is the one cancel that does not wait for a
    REPL: the child goes at once, the root releases the lock for it and puts the
    terminal's settings back (the script compares them with its start's)."""
    from devx.telemetry.readback import load_logs

    trace, go = tmp_path / "t.jsonl", tmp_path / "go"
    r = repl(
        "habits_cancel_under_repl.py",
        "hard",
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_CANCEL_GO=str(go),
    )
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    pid = r.repl_pid
    r.wait_reading()
    go.touch()
    r.saw("root: cancel_actor returned graceful=False")
    r.saw(f"root: the child's call ended: actor 'root/sitter' (pid {pid}) was cancelled and killed")
    r.saw("root: terminal settings as before the REPL: True")
    assert r.finish() == 0
    lock_events = [
        (
            rec["event_name"],
            rec["attributes"]["devx.tty_lock.holder.path"],
            rec["attributes"].get("devx.tty_lock.release"),
        )
        for rec in load_logs(trace)
        if rec["event_name"] in ("devx.tty_lock.granted", "devx.tty_lock.released")
    ]
    assert lock_events == [
        ("devx.tty_lock.granted", "root/sitter", None),
        ("devx.tty_lock.released", "root/sitter", "holder_lost"),
    ]


# --- stepping through the user's context managers and over remote calls --------------

WITH = "habits_step_with.py"
STOP = re.compile(r"^> \S+\((\d+)\)(\w+)\(\)(?:->.*)?\r?\n-> (.*)$", re.M)


def _stop(out: str) -> tuple[str, str]:
    """(function, source line) of the stop a step printed."""
    m = STOP.search(out)
    assert m, f"no stop shown:\n{out}"
    return m.group(2), m.group(3).strip()


@pytest.mark.parametrize(
    ("where", "kind", "key"),
    [
        ("root", "async", "n"),
        ("child", "async", "s"),
        ("child", "async", "r"),
        ("child", "sync", "n"),
        ("root", "sync", "s"),
    ],
)
def test_stepping_out_of_a_context_manager_goes_back_into_the_with_body(repl, where, kind, key):
    r = repl(WITH, where, kind)
    reason, name = ("PAUSE", "opened") if kind == "async" else ("SYNC_PAUSE", "opened_sync")
    r.expect(banner(reason, *(("root", "root") if where == "root" else ("withy", "root/withy"))))
    user = f"use_{kind}"
    stops_at_banner_line(r.prompt(), "pause")
    # the `with` that entered the manager is on the stack, contextlib is not
    where_out = r.cmd("w")
    assert f"{user}()" in where_out and "contextlib" not in where_out, where_out
    assert _stop(r.cmd("u")) == (
        user,
        f'{"async with" if kind == "async" else "with"} {name}("{kind}") as handle:',
    )
    assert _stop(r.cmd("d"))[0] == name
    # step on past the manager's `yield`: into the body of the caller's `with`
    stops = []
    for _ in range(4):
        stops.append(_stop(r.cmd(key)))
        if stops[-1][0] == user:
            break
    assert stops[-1] == (user, 'body = f"body saw {handle}"'), stops
    assert all(fn in (name, user) for fn, _ in stops), stops
    assert r.cmd("p handle").strip().endswith(f"'<{kind}>'")
    # `n` over the end of the `with` runs the manager's exit: the line after it
    for _ in range(3):
        fn, line = _stop(r.cmd("n"))
        assert fn == user, (fn, line)
        if line == "after = body.upper()":
            break
    else:
        raise AssertionError(f"never left the `with`:\n{r.log.getvalue()}")
    assert f"closing <{kind}>" in r.log.getvalue()
    r.cmd("n")
    assert r.cmd("p after").strip().endswith(f"'BODY SAW <{kind.upper()}>!'")
    r.child.sendline("c")
    r.expect_exact(f"use returned BODY SAW <{kind.upper()}>!")
    assert r.finish() == 0
    assert STEPPED_OUT not in r.log.getvalue()
    assert _count_banners(r.log.getvalue()) == 1


@pytest.mark.parametrize(("where", "path"), [("root", "root"), ("child", "root/caller")])
def test_s_on_a_remote_call_steps_over_it(repl, where, path):
    r = repl("habits_step_remote.py", where)
    r.expect(banner("PAUSE", path.rsplit("/", 1)[-1], path))
    out = r.prompt()
    assert "steps over calls into devx, remote calls included" in out  # the hint
    stops_at_banner_line(out, "-> await devx.pause()")
    lines = []
    for _ in range(30):
        out = r.cmd("s")
        for hidden in ("--Call--", "--Return--", DEVX_SRC, TRIO_SRC, "inspect.py", "contextlib"):
            assert hidden not in out, f"`s` stopped in {hidden!r}:\n{out}"
        fn, line = _stop(out)
        assert fn == "caller", out
        lines.append(line)
        if line.startswith("total ="):
            break
    else:
        raise AssertionError(f"never reached `total =`: {lines}")

    def after(call: str) -> str:
        return lines[[line.startswith(call) for line in lines].index(True) + 1]

    # `s` on each remote call: the caller's next line
    assert (
        after("nine = await portal.run(")
        == "async with portal.open_context(echo, n=4) as (_ctx, first):"
    )
    assert after("async with portal.open_context(") == "four = first"
    assert after("async with portal.open_stream_from(") == "three = 0"
    assert after("one = await an.run_in_actor(") == "twenty_five = await one.result()"
    assert after("twenty_five = await one.result()") == lines[-1]
    r.cmd("n")
    assert r.cmd("p total").strip().endswith("41")
    r.child.sendline("c")
    r.expect_exact("caller returned 41")
    assert r.finish() == 0
    assert _count_banners(r.log.getvalue()) == 1


def test_a_crash_reached_by_stepping_in_the_root_is_shown_as_a_crash(repl, tmp_path):
    """`n` in the root's REPL onto a line that raises, and on until the error leaves
    the nursery block: the root's crash REPL opens while the stepping one is live
    (the same hold). Its banner says CRASH (it said PAUSE, the stepping REPL's
    reason) and its REPL span is a crash's, the stepping one's a pause's."""
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "step_crash.otlp.jsonl"
    r = repl("root_step_into_crash.py", DEVX_TELEMETRY_FILE=str(trace))
    r.expect(banner("PAUSE", "root", "root"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "-> total += 1" in r.cmd("n")
    assert '-> print(f"each gets' in r.cmd("n")
    assert "ZeroDivisionError" in r.cmd("n")  # pdb shows the exception where it stepped
    for _ in range(6):  # on out of the nursery block (its line once per Python)
        r.child.sendline("n")
        if r.expect(rf"{re.escape('(Pdb+) ')}|>>> devx [A-Z]+ in actor")[0] != "(Pdb+) ":
            break
    else:
        raise AssertionError(f"no crash REPL:\n{r.log.getvalue()}")
    kind = r.child.match.group(0).split()[2]
    r.expect(r" \(path root, pid \d+\): ZeroDivisionError: integer division or modulo by zero")
    assert kind == "CRASH", f"the crash's REPL says {kind}:\n{r.log.getvalue()}"
    out = r.prompt()
    assert "-> return total // parts" in out  # at the raising frame
    assert r.cmd("p total").strip().endswith("42")
    assert "share()" in r.cmd("w")
    r.child.sendline("c")
    r.expect_exact("terminal: echo=True icanon=True")
    r.expect("ZeroDivisionError")
    assert r.finish() != 0
    repls = [s["attributes"] for s in load_spans(trace) if s["name"] == schema.REPL_SPAN]
    assert [(a[schema.REASON], a[schema.CODE_FUNCTION_NAME]) for a in repls] == [
        ("pause", "main"),
        ("crash", "share"),
    ], repls
    assert len({a[schema.HOLD_ID] for a in repls}) == 1  # one hold: no lock traffic
    reentered = [
        log["attributes"][schema.REASON]
        for log in load_logs(trace)
        if log["event_name"] == schema.REPL_REENTERED
    ]
    assert reentered == ["crash"]
    # the timeline shows the hold's two REPLs, the second a crash's, not a re-entry
    shown = subprocess.run(
        [sys.executable, "-m", "devx.cli", "timeline", "--width", "200", str(trace)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    src = (EXAMPLES / "root_step_into_crash.py").read_text().splitlines()
    at = {k: 1 + next(i for i, t in enumerate(src) if k in t) for k in ("devx.pause()", "//")}
    assert f"REPL at root_step_into_crash.py:{at['devx.pause()']} in main()" in shown, shown
    assert f"then crashed: REPL at root_step_into_crash.py:{at['//']} in share()" in shown, shown
    assert "re-entered" not in shown, shown


def test_a_threads_repl_outlives_its_actors_cancel(tmp_path):
    """A plain thread's REPL in a child, the parent's portal.cancel_actor() meanwhile:
    the child took the cancel on its loop (a thread's REPL leaves it serving, where a
    task's holds it), its actor ended and the process with it under the prompt
    ('went away holding the terminal (thread): released (holder_lost)'). The actor now
    waits for its thread's REPL to be left, as for any REPL: a REPL is the user's time."""
    from _pty import Repl

    took = tmp_path / "took"
    script = Path(__file__).parent / "scripts" / "thread_repl_under_cancel.py"
    r = Repl(script, CANCEL_TOOK=str(took))
    try:
        r.expect(banner("THREAD", "kid", "root/kid"))
        r.prompt()
        wait_until(took.exists, scaled(20), "the child taking its cancel")
        r.child.sendline("p x")
        got = r.expect(r"41\r?\n|went away holding the terminal")
        assert got.group(0).startswith("41"), r.log.getvalue()
        r.prompt()
        r.child.sendline("c")
        r.expect_exact("thread after breakpoint")
        r.expect_exact("tree done")
        assert r.finish() == 0, r.log.getvalue()
        assert "holder_lost" not in r.log.getvalue()
    finally:
        r.close()


def test_a_thread_pausing_as_its_actor_ends_is_told_so():
    """A plain thread's pdb.set_trace() in a child, its request for the terminal queued
    behind the root's hold, and the parent cancels the child: the request is cut as
    the actor ends. The thread got ChannelClosed 'actor root@... went away' (the root
    did not: its own actor was ending); it gets the true reason, where, and what to
    do."""
    script = Path(__file__).parent / "scripts" / "thread_pause_as_actor_ends.py"
    proc = run_script(script, timeout=scaled(30))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = next((ln for ln in proc.stdout.splitlines() if ln.startswith("THREAD GOT")), "")
    assert got.startswith("THREAD GOT NoRuntime: pdb.set_trace() in thread 'pauser' of actor "), (
        proc.stdout + proc.stderr
    )
    assert "'root/kid'" in got and "the actor is ending (cancelled by parent)" in got, got
    assert "join the thread before the function the actor serves returns" in got, got
    assert "went away" not in got and "tree done" in proc.stdout, proc.stdout


def test_a_to_thread_job_pausing_as_its_actor_ends_ends_cancelled():
    """The same with a ``trio.to_thread.run_sync`` job's pause: its request runs in the
    task awaiting the job, and that task's cancellation as the actor ends is what cut
    it. The task ends cancelled, as any task of a cancelled actor; the job's pause got
    NoRuntime instead (6446769), an error out of ``to_thread.run_sync`` in a cancelled
    task: a crash, whose post-mortem REPL queued for the terminal (a tree whose holder
    awaited that actor's end hung)."""
    script = Path(__file__).parent / "scripts" / "thread_pause_as_actor_ends.py"
    proc = run_script(script, "to_thread", timeout=scaled(30))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "JOB GOT Cancelled" in lines and "TASK GOT Cancelled" in lines, proc.stdout
    assert "tree done" in lines and "crash" not in proc.stdout + proc.stderr, proc.stdout
