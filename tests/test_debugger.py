"""The multi-process debugger through a real pseudo-terminal (pexpect): each
example under examples/debugging/ is driven the way a person would."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest

from _pty import (
    PROMPT,
    TIMEOUT,
    banner,
    kill_holder,
    lock_requests,
    repl_fixture,
    stops_at_banner_line,
)
from conftest import run_script, scaled, wait_until
from devx.core import schema

pytestmark = pytest.mark.timeout(90)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"


repl = repl_fixture(EXAMPLES)


def test_root_pause(repl):
    r = repl("root_pause.py")
    r.expect(banner("PAUSE", "root", "root"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> await devx.pause()") == "root_pause.py(11)main()"
    assert r.cmd("p x").strip().endswith("1")
    assert "await devx.pause()" in r.cmd("ll")
    assert "-> y = x + 1" in r.cmd("n")
    r.cmd("n")
    assert r.cmd("p y").strip().endswith("2")
    r.child.sendline("c")
    r.expect_exact("root resumed, y=2")
    assert r.finish() == 0


def test_a_breakpoint_left_in_the_root_is_quiet_at_exit(repl):
    """A `b` set in the root's REPL keeps pdb's trace function installed after `c`:
    the interpreter's teardown ran through it once this module's globals were gone
    ("Exception ignored in ... AttributeError: 'NoneType' object has no attribute
    'get'" after the program's last line)."""
    r = repl("root_pause.py")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    assert "Breakpoint 1 at" in r.cmd("b 12")
    r.child.sendline("c")
    r.expect(banner("BREAKPOINT", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("root resumed, y=2")
    assert r.finish() == 0
    text = r.log.getvalue()
    assert "Exception ignored" not in text and "AttributeError" not in text, text


def test_root_crash_repl_at_raising_frame(repl):
    r = repl("root_crash.py")
    r.expect(banner("CRASH", "root", "root") + ": KeyError: 'question'")
    out = r.prompt()
    assert "root_crash.py(11)main()" in out and 'print(data["question"])' in out
    assert "42" in r.cmd("p data")
    r.child.sendline("c")
    r.expect("KeyError: 'question'")
    assert r.finish() != 0


def test_a_root_tasks_crash_shows_no_frames_of_the_task_shims(repl, tmp_path):
    """A task of the root's nursery crashes in a debug tree: its traceback, in the crash
    banner, as Python prints it at the end and in the telemetry record, runs from the
    task's first frame of the program's code to the raise, with none of the four
    frames of greenback's portal (greenback_shim, _greenback_shim, trampoline,
    outcome's send) that every such task runs under in debug mode: twelve lines of
    them were in each before."""
    from devx.telemetry.readback import load_spans

    trace_file = tmp_path / "tree.otlp.jsonl"
    r = repl(str(SCRIPTS / "root_task_crash.py"), DEVX_TELEMETRY_FILE=str(trace_file))
    r.expect(banner("CRASH", "root", "root") + ": ValueError: order 7 has no lines")
    shown = r.prompt()
    user_frames = ("line 15, in handle", "line 10, in check")
    assert all(f in shown for f in user_frames), shown
    r.child.sendline("c")
    r.expect_exact("ValueError: order 7 has no lines")
    at_exit = r.child.before
    assert r.finish() != 0
    assert all(f in at_exit for f in user_frames), at_exit
    (stack,) = [
        e["attributes"]["exception.stacktrace"]
        for s in load_spans(trace_file)
        for e in s["events"]
        if e["name"] == "exception"
    ]
    assert all(f in stack for f in user_frames), stack
    for text in (shown, at_exit, stack):
        assert not re.search(r"greenback|outcome.(_impl|__init__)", text), text


def test_a_breakpoint_left_set_leaves_the_next_trees_crash_repl_at_its_raise(repl):
    """A `b` set in one tree's REPL and left set keeps the door's tracer on after that
    tree: the next tree's crash REPL, reset and handed every new frame, stopped at the
    first call it saw (`--Call--` in posixpath.isabs, `p y` a NameError). It stands at
    the raise now, and the breakpoint still stops a third tree."""
    r = repl(str(SCRIPTS / "breakpoint_across_trees.py"))
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    assert "Breakpoint 1 at" in r.cmd("b 11")
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": ValueError: 5")
    out = r.prompt()
    assert "breakpoint_across_trees.py(25)two()" in out and "--Call--" not in out, out
    assert r.cmd("p y").strip().endswith("5")
    r.child.sendline("c")
    r.expect_exact("two raised")
    r.expect(banner("BREAKPOINT", "root", "root"))
    assert "breakpoint_across_trees.py(11)later()" in r.prompt()
    assert r.cmd("p z").strip().endswith("41")
    r.child.sendline("c")
    r.expect_exact("three got 42")
    assert r.finish() == 0


def test_a_breakpoint_set_in_the_first_repl_a_post_mortem_stops_later(repl):
    """The process's first REPL is a post-mortem; a `b` set there stops the loop's next
    turn at that line. The post-mortem's REPL, which traces nothing (b878070), stayed
    the only breakpoint watcher and was handed no frame: the breakpoint never fired."""
    r = repl(str(SCRIPTS / "breakpoint_set_in_a_post_mortem.py"))
    r.expect(banner("CRASH", "root", "root") + ": ZeroDivisionError")
    r.prompt()
    assert "Breakpoint 1 at" in r.cmd("b 10")
    r.child.sendline("c")
    r.expect(banner("BREAKPOINT", "root", "root"))
    assert "breakpoint_set_in_a_post_mortem.py(10)work()" in r.prompt()
    assert r.cmd("p i").strip().endswith("1")
    r.child.sendline("c")
    r.expect_exact("RESULT 1.0")
    r.expect_exact("DONE")
    assert r.finish() == 0


def test_child_pause_in_a_loop(repl):
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "-> total += i" in r.cmd("n")
    assert "-> await trio.sleep(0)" in r.cmd("n")
    assert r.cmd("p total").strip().endswith("0")
    assert r.cmd("p i").strip().endswith("0")
    r.child.sendline("c")
    r.expect(banner("PAUSE", "looper", "root/looper"))  # the next turn pauses again
    r.prompt()
    assert r.cmd("p i").strip().endswith("1")
    r.child.sendline("c")
    r.expect_exact("child returned 1")
    assert r.finish() == 0


def test_a_breakpoint_then_the_next_pause_of_the_same_task(repl):
    """`b` on a line after the pause, `c`: the breakpoint's REPL, then `c` into the
    next turn's pause. Its fresh REPL was bound to the task before it traced, and
    the trace function handed that pause's own frames (its banner) to it: an
    AttributeError ('PdbREPL' object has no attribute 'quitting') killed the call."""
    r = repl("child_pause_loop.py")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "Breakpoint 1 at" in r.cmd("b 12")
    for i in (0, 1):
        r.child.sendline("c")
        r.expect(banner("BREAKPOINT", "looper", "root/looper"))
        assert "-> total += i" in r.prompt()
        assert r.cmd("p i").strip().endswith(str(i))
        r.child.sendline("c")
        if i == 0:  # the next turn pauses again
            r.expect(banner("PAUSE", "looper", "root/looper"))
            stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    r.expect_exact("child returned 1")
    assert r.finish() == 0
    assert "AttributeError" not in r.log.getvalue()


def test_child_crash_walked_up_to_root(repl):
    r = repl("child_crash.py")
    r.expect(banner("CRASH", "divider", "root/divider") + ": ZeroDivisionError")
    out = r.prompt()
    assert "child_crash.py(10)divide()" in out and "ratio = a / b" in out
    assert r.cmd("p a, b").strip().endswith("(1, 0)")
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ZeroDivisionError")
    r.prompt()
    r.child.sendline("c")
    r.expect("RemoteActorError: ZeroDivisionError: division by zero")
    assert r.finish() != 0


@pytest.mark.skipif(sys.version_info < (3, 13), reason="pdb's `exceptions` is 3.13's")
def test_a_crash_repl_has_the_chained_exceptions_on_313(repl):
    """3.13's pdb gives a post-mortem the error's chain: `exceptions` lists it,
    `exceptions N` moves to one, `$_exception` is the one shown. devx handed pdb the
    traceback alone: "Did not find chained exceptions" and `p $_exception` a
    KeyError of pdb's own (trial10). The root's REPL has the boxed error."""
    r = repl("chained_crash.py")
    r.expect(banner("CRASH", "till", "root/till") + ": ValueError: no price for 'pear'")
    assert "-> raise ValueError" in r.prompt()
    listed = r.cmd("exceptions")
    assert re.search(r"^\s+0 KeyError\('pear'\)", listed, re.M), listed
    assert re.search(r"^>\s+1 ValueError\(\"no price for 'pear'\"\)", listed, re.M), listed
    assert "ValueError" in r.cmd("p $_exception")
    out = r.cmd("exceptions 0")
    assert "-> return PRICES[item]" in out, out
    assert "KeyError('pear')" in r.cmd("p $_exception")
    assert r.cmd("p item").strip().endswith("'pear'")
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ValueError")
    r.prompt()
    assert "RemoteActorError" in r.cmd("p type($_exception).__name__")
    # its traceback is devx's frames alone: nothing to move to, said, the REPL goes on
    out = r.cmd("exceptions 0")
    assert "raised inside devx" in out and "IndexError" not in out, out
    assert "main()" in r.cmd("w")
    r.child.sendline("c")
    assert r.finish() != 0


def test_exceptions_is_pdbs_own_on_every_python(repl):
    """`exceptions` is a command of 3.13's pdb only. On 3.11/3.12 the line is what pdb
    makes of any other (Python: a SyntaxError line) and the REPL goes on (before:
    devx's `exceptions` called its base's, which is not there: the AttributeError
    crashed the actor); on 3.13 `help exceptions` is pdb's."""
    r = repl("chained_crash.py")
    r.expect(banner("CRASH", "till", "root/till") + ": ValueError: no price for 'pear'")
    r.prompt()
    if sys.version_info < (3, 13):
        out = r.cmd("exceptions 0")
        assert "*** SyntaxError" in out and "AttributeError" not in out, out
    else:
        out = r.cmd("help exceptions")
        assert "List or change current exception" in out, out
    assert "-> raise ValueError" in r.cmd("w")  # the same REPL
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ValueError")
    r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0
    assert "AttributeError" not in r.log.getvalue()


def test_grandchild_crash_through_two_nurseries(repl):
    r = repl("grandchild_crash.py")
    r.expect(banner("CRASH", "leaf", "root/middle/leaf") + ": ValueError: leaf failed")
    assert "leaf_fails()" in r.prompt()
    assert "_invoke" not in r.cmd("w")  # runtime frames hidden
    r.child.sendline("c")
    r.expect(banner("CRASH", "middle", "root/middle") + ": RemoteActorError: ValueError")
    assert "middle()" in r.prompt()
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ValueError")
    r.expect_exact("via root/middle")
    assert "main()" in r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0


def test_several_pauses_and_a_crash_one_at_a_time(repl, tmp_path):
    trace_file = tmp_path / "tree.otlp.jsonl"
    r = repl("multi_pause_crash.py", DEVX_TELEMETRY_FILE=str(trace_file))
    seen = []
    children = {"root/crasher", "root/pauser0", "root/pauser1", "root/pauser2"}
    pattern = r">>> devx (PAUSE|CRASH) in actor '(\w+)' \(path root/(\w+), pid \d+\)"
    for _ in range(4):
        m = r.expect(pattern)
        kind, name, path_name = m.group(1), m.group(2), m.group(3)
        assert name == path_name
        assert (kind == "CRASH") == (name == "crasher")
        seen.append(name)
        r.prompt()
        # every child has asked for the TTY (the others wait for it) ...
        wait_until(
            lambda: {a["devx.actor.path"] for a in lock_requests(trace_file)} >= children,
            scaled(5),
            "every child's lock request",
        )
        r.assert_quiet()  # ... yet no other actor's banner while this REPL is live
        assert name in r.cmd("p __import__('devx').current_actor().name")
        r.child.sendline("c")
    assert sorted(seen) == ["crasher", "pauser0", "pauser1", "pauser2"]
    # then the root gets its post-mortem on the crasher's boxed error
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: RuntimeError")
    r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0
    # the telemetry timeline tells the same story: five holds, never overlapping
    from devx.telemetry.readback import load_spans

    spans = load_spans(trace_file)
    held = sorted(
        (s for s in spans if s["name"] == "devx.tty_lock.held"), key=lambda s: s["start_ns"]
    )
    assert [s["attributes"]["devx.actor.path"] for s in held][-1] == "root"
    assert len(held) == 5
    for before, after in itertools.pairwise(held):
        assert before["end_ns"] <= after["start_ns"]
    repls = [s for s in spans if s["name"] == "devx.repl"]
    assert len(repls) == 5
    assert all(s["attributes"][schema.CODE_FILE_PATH].endswith(".py") for s in repls)
    assert "current_actor().name" not in trace_file.read_text()  # never what was typed


def test_per_actor_debug_mode(repl):
    r = repl("per_actor_debug_mode.py")
    m = r.expect(r">>> devx CRASH in actor '(\w+)'")
    assert m.group(1) == "root"  # the plain child opened no REPL of its own
    out = r.prompt()
    assert "RemoteActorError: KeyError" in r.log.getvalue() and "main()" in out
    r.child.sendline("c")
    assert r.finish() != 0


@pytest.mark.parametrize(
    "mode, where, got",
    [
        ("breakpoint", "per_actor_debug_mode.py:23 in stop_here()", "3"),
        ("import", "_import_breakpoint.py:5 in <module>()", "42"),  # at its boot
    ],
)
def test_breakpoint_in_a_plain_actor_of_a_debug_tree_is_skipped_with_a_line(repl, mode, where, got):
    """A `breakpoint()` in an actor started with debug_mode=False, in a debug tree, was
    a bare pdb outside the tree's TTY lock: a second REPL on the terminal beside the
    tree's, which the tree's grace timers know nothing of (at the top of a module it
    imports at boot, DEVX_BOOT_TIMEOUT killed it under the prompt). Skipped now, saying
    why."""
    r = repl("per_actor_debug_mode.py", mode, DEVX_BOOT_TIMEOUT="2")
    r.expect_exact(
        f"[devx] breakpoint() at {where} skipped: "
        "actor 'root/plain' runs with debug_mode=False, so no REPL opens there"
    )
    r.expect_exact(f"plain returned {got}")
    assert r.finish() == 0
    assert "(Pdb" not in r.log.getvalue()


BARE_ASSERT = """
import trio
import devx


async def check(items: list) -> None:
    total = sum(items)
    assert total == 3


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(check, name="checker", items=[1, 1])


if __name__ == "__main__":
    trio.run(main)
"""


def test_a_crash_without_a_message_is_named_by_its_type_alone(repl, tmp_path):
    """A bare `assert` (no message): the banner names the type, with no dangling
    ': ' after it; the REPL is at the assert, its locals there."""
    script = tmp_path / "bare_assert.py"
    script.write_text(BARE_ASSERT)
    r = repl(script)
    r.expect(banner("CRASH", "checker", "root/checker") + r": AssertionError\r?\n")
    out = r.prompt()
    assert "-> assert total == 3" in out
    assert r.cmd("p total").strip().endswith("2")
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + r": RemoteActorError: AssertionError from")
    r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0


def test_a_crash_walks_up_while_a_sibling_pauses_in_a_loop(repl):
    """'middle' opens its crash REPL on its child's error even though 'looper' keeps
    the terminal busy: a nursery whose children all exited waits for no settle."""
    r = repl("crash_beside_pause_loop.py")
    seen: list[str] = []
    # each `c` lets the next in line have the terminal; 'looper' is back within
    # 0.05 s each time, while 'middle' and 'leaf' still boot (seconds on a busy
    # machine): bounded by time, not by a count of rounds
    deadline = time.monotonic() + scaled(25)  # within the test's own 90 s
    while time.monotonic() < deadline:
        m = r.expect(r">>> devx (PAUSE|CRASH) in actor '(\w+)'")
        seen.append(f"{m.group(1)} {m.group(2)}")
        r.prompt()
        if seen[-1] == "CRASH middle":
            break
        r.child.sendline("c")
    assert seen[-1] == "CRASH middle", seen[-5:]
    assert "CRASH leaf" in seen
    assert "RemoteActorError: NameError" in r.log.getvalue()
    r.child.sendline("c")
    r.expect(banner("PAUSE", "looper", "root/looper"))
    r.prompt()
    r.child.sendline("q")
    r.expect_exact("devx: quit from the REPL in actor 'root/looper'")
    r.expect_exact("NameError in actor 'root/middle/leaf': leaf failed on purpose")
    assert r.finish() != 0


def test_acquire_debug_lock_in_a_task_that_holds_the_terminal(repl):
    """`n` over `acquire_debug_lock()` keeps the REPL (the block runs under its hold),
    a block inside another shares its hold, and a pause inside a block opens its REPL
    on it: each waited for the lock its own task held, a hang."""
    r = repl("acquire_from_repl.py")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    out = ""
    for _ in range(6):  # the block's lines, stepped one by one
        out += r.cmd("n")
        hold = re.search(r"report under hold (\d+)", out)
        if hold:
            break
    assert hold and int(hold.group(1)) > 0, out
    r.child.sendline("c")
    m = r.expect(r"nested holds (\d+) (\d+)")
    assert m.group(1) == m.group(2) != hold.group(1)
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("after the pause in the block")
    r.expect_exact("all done")
    assert r.finish() == 0


def test_root_cancelled_while_child_in_repl(repl):
    r = repl("root_cancelled_child_in_repl.py")
    r.expect(banner("PAUSE", "sitter", "root/sitter"))
    r.prompt()
    # the root's deadline fires under the live REPL ...
    r.expect_exact("root: scope timed out (cancelled: True), tearing down")
    # ... the REPL still answers, and the teardown printed nothing under it
    out = r.cmd("p 1 + 1")
    assert [line.strip() for line in out.splitlines() if line.strip()] == ["p 1 + 1", "2"]
    assert "tree torn down" not in r.log.getvalue()
    r.child.sendline("c")
    r.expect_exact("root: tree torn down cleanly")
    assert r.finish() == 0


def test_shielded_pause_in_cancelled_scope(repl):
    r = repl("shield_pause.py")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("after the shielded pause")
    r.expect_exact("scope cancelled: True")
    assert "never printed" not in r.log.getvalue()
    assert r.finish() == 0


def test_ctrl_c_while_child_repl_is_live(repl):
    r = repl("child_pause_sleep.py")
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    r.prompt()
    for _ in range(2):
        r.wait_reading()
        r.child.sendintr()  # ctrl-c: SIGINT to the whole foreground process group
        r.expect_exact("ctrl-c shielded: root/pauser is in the REPL")
        r.prompt()
    assert r.cmd("p 40 + 2").strip().endswith("42")  # still the same live REPL
    r.child.sendline("c")
    r.expect_exact("root got: child finished")
    assert r.finish() == 0


def test_ctrl_c_while_a_grandchild_repl_is_live(repl):
    """Nested trees: the middle actor does not hold the lock, yet ctrl-c cancels
    nothing; the grandchild's REPL says it was shielded and goes on."""
    r = repl("grandchild_pause.py")
    r.expect(banner("PAUSE", "leaf", "root/middle/leaf"))
    r.prompt()
    for _ in range(2):
        r.wait_reading()
        r.child.sendintr()
        r.expect_exact("ctrl-c shielded: root/middle/leaf is in the REPL")
        r.prompt()
    assert r.cmd("p depth").strip().endswith("3")  # the same live REPL
    r.child.sendline("c")
    r.expect_exact("root got: leaf resumed at depth 3")
    assert r.finish() == 0
    assert "Traceback" not in r.log.getvalue()  # nothing was cancelled or crashed


def test_ctrl_c_with_no_repl_tears_down(repl):
    r = repl("idle_tree.py")
    r.expect_exact("tree is up; press ctrl-c")
    r.child.sendintr()
    r.expect("KeyboardInterrupt")
    assert r.finish() != 0
    assert ">>> devx" not in r.log.getvalue()


def test_quit_in_child(repl):
    r = repl("child_pause_sleep.py")
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    r.prompt()
    r.child.sendline("q")
    r.expect_exact("devx: quit from the REPL in actor 'root/pauser'")
    assert r.finish() != 0
    assert ">>> devx CRASH" not in r.log.getvalue()  # quitting is not a crash
    assert "bdb.py" not in r.log.getvalue()


@pytest.mark.parametrize(("script", "ok"), [("root_pause.py", True), ("child_crash.py", False)])
def test_stdin_not_a_terminal_never_hangs(script, ok):
    out = run_script(EXAMPLES / script)
    assert "stdin is not a terminal" in out.stdout
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    if ok:
        assert "root resumed, y=2" in out.stdout
    else:
        assert "ZeroDivisionError" in out.stdout + out.stderr


def test_terminal_settings_restored(repl, tmp_path):
    script = tmp_path / "stty_around.sh"
    script.write_text(
        f"stty -g > {tmp_path}/before\n"
        f"stty -a > {tmp_path}/before-a\n"
        f"{sys.executable} {EXAMPLES / 'child_crash.py'}\n"
        f"stty -g > {tmp_path}/after\n"
        "echo STTY-DONE\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    child = pexpect.spawn("bash", [str(script)], env=env, encoding="utf-8", timeout=TIMEOUT)
    try:
        for _ in range(2):
            child.expect_exact(PROMPT)
            child.sendline("c")
        child.expect_exact("STTY-DONE")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # every setting as before (`stty -g`: all of them, in a form that does not wrap
    # with the terminal's width or COLUMNS as `stty -a` does)
    before = (tmp_path / "before").read_text()
    after = (tmp_path / "after").read_text()
    assert before == after
    # and they were a sane terminal's: the `echo` flag itself, not `-echo` (nor echoe/echok)
    before_a = (tmp_path / "before-a").read_text()
    assert re.search(r"(?<![-\w])echo(?![\w])", before_a), before_a


DEPRECATED_BREAKPOINT = """
import warnings, trio, devx

async def main():
    async with devx.open_root_actor(debug_mode=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await devx.breakpoint()
        print("warned:", [f"{w.category.__name__}: {w.message}" for w in caught])
    print("root went on")

trio.run(main)
"""


def test_mk_pdb_and_deprecated_breakpoint():
    from devx.debug import mk_pdb

    pdb = mk_pdb()
    assert type(pdb).__name__ == "PdbREPL"
    assert type(pdb).__mro__[1].__module__ == "pdbp"
    # the tree in a process of its own with no terminal (stdin /dev/null): in this one
    # a test's root REPL gets the terminal pytest was started from (pytest's capture
    # suspended, as its pdb does), and a developer's pytest may have one
    out = run_script("-c", DEPRECATED_BREAKPOINT)
    assert out.returncode == 0, out.stdout + out.stderr
    # the pause reports and goes on
    assert "stdin is not a terminal: no REPL, continuing" in out.stdout, out.stdout
    assert "root went on" in out.stdout, out.stdout
    warned = re.search(r"warned: \[(.*)\]", out.stdout)
    assert warned and "DeprecationWarning: devx.breakpoint() is deprecated" in warned[1], out.stdout
    assert "pause" in warned[1]


def test_pause_without_debug_mode_is_a_clear_error():
    import trio

    import devx

    async def main():
        async with devx.open_root_actor():
            with pytest.raises(RuntimeError, match="debug_mode=True"):
                await devx.pause()
        with pytest.raises(devx.NoRuntime, match="open_root_actor"):
            await devx.pause()

    trio.run(main)


def test_lock_freed_when_holder_is_killed(repl, tmp_path):
    trace_file = tmp_path / "tree.otlp.jsonl"
    r = repl("holder_killed.py", DEVX_TELEMETRY_FILE=str(trace_file))
    pid = kill_holder(r)
    r.expect(rf"root: actor 'root/doomed' \(pid {pid}\) was killed by SIGKILL")
    r.expect_exact("root: lock freed after its holder died")
    r.expect(banner("PAUSE", "second", "root/second"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("root: second child resumed")
    assert r.finish() == 0
    # the root's side of the timeline survives the holder's death
    from devx.telemetry.readback import load_logs, load_spans

    logs = load_logs(trace_file)
    root_side = [
        (log["event_name"], log["attributes"]["devx.tty_lock.holder.path"])
        for log in logs
        if log["event_name"] in ("devx.tty_lock.granted", "devx.tty_lock.released")
    ]
    assert root_side == [
        ("devx.tty_lock.granted", "root/doomed"),
        ("devx.tty_lock.released", "root/doomed"),
        ("devx.tty_lock.granted", "root/second"),
        ("devx.tty_lock.released", "root/second"),
    ]
    held = [s for s in load_spans(trace_file) if s["name"] == "devx.tty_lock.held"]
    assert [s["attributes"]["devx.actor.path"] for s in held] == ["root/second"]
    assert len({s["trace_id"] for s in load_spans(trace_file)}) == 1


def test_child_cancelled_while_waiting_for_the_lock(repl):
    r = repl("cancel_waiter.py")
    r.expect(banner("PAUSE", "holder", "root/holder"))
    # the root's own prints run beside the holder's REPL (the example's code, not
    # devx's): they may land before its banner (the root prints once it granted the
    # lock; the holder prints its banner once the grant reached it) or around its
    # first prompt, so wait for the last of them, wherever it landed
    r.saw("root: waiter cancelled (graceful=True), queue=0")
    r.saw("root: root/waiter waits for the TTY")
    r.saw("root: the waiter's pause() was cancelled")
    r.child.sendline("p 6 * 7")  # the holder's REPL is undisturbed
    r.expect_exact("42")
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("root: done")
    assert r.finish() == 0
    assert "'waiter'" not in r.log.getvalue().split("waits for the TTY")[0]


def test_telemetry_reaches_the_file_while_the_repl_is_live(repl, tmp_path):
    """Spans and logs go out while the user sits in the REPL (as in Jaeger), not
    only when the tree exits."""
    from devx.telemetry.readback import load_logs

    trace_file = tmp_path / "tree.otlp.jsonl"
    r = repl("child_pause_sleep.py", DEVX_TELEMETRY_FILE=str(trace_file))
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    r.prompt()

    def requested() -> list[dict]:
        if not trace_file.exists():
            return []
        return [
            log
            for log in load_logs(trace_file, strict=False)
            if log["event_name"] == "devx.tty_lock.requested"
        ]

    found = wait_until(requested, scaled(5), "the lock request exported while the REPL is live")
    assert found[0]["attributes"]["devx.actor.path"] == "root/pauser"
    assert r.child.isalive()  # still in the REPL
    r.child.sendline("c")
    r.expect_exact("root got: child finished")
    assert r.finish() == 0


@pytest.mark.parametrize("script", ["root_crash.py", "multi_pause_crash.py"])
def test_every_grant_has_its_release_on_record(script, tmp_path):
    """The root's grant/release records are complete even when the last REPL is the
    root's own crash, right before it exits (stdin not a terminal: no REPL, the
    lock is still taken and given back)."""
    from devx.telemetry.readback import load_logs, load_spans

    trace_file = tmp_path / "tree.otlp.jsonl"
    out = run_script(EXAMPLES / script, DEVX_TELEMETRY_FILE=str(trace_file))
    assert out.returncode != 0  # both end in a crash
    records = [
        (log["event_name"], log["attributes"]["devx.tty_lock.holder.path"])
        for log in load_logs(trace_file)
        if log["event_name"] in ("devx.tty_lock.granted", "devx.tty_lock.released")
    ]
    assert records and len(records) % 2 == 0, records
    for granted, released in zip(records[::2], records[1::2], strict=True):
        assert granted[0] == "devx.tty_lock.granted" and released[0] == "devx.tty_lock.released"
        assert granted[1] == released[1]
    held = [s for s in load_spans(trace_file) if s["name"] == "devx.tty_lock.held"]
    assert len(held) == len(records) // 2
    assert records[-1][1] == "root"  # the root's own post-mortem came last


# --- the debugger over a Unix socket, with debug_mode per actor, post_mortem() -------

SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.mark.parametrize(
    ("transport", "root_debug"), [("uds", "on"), ("tcp", "off"), ("uds", "off")]
)
def test_child_repls_over_any_transport_and_root_debug_mode(repl, transport, root_debug):
    """Children in debug mode get their REPLs over a Unix socket as over TCP, and
    with the root itself not in debug mode (then it opens no REPL of its own)."""
    r = repl(str(SCRIPTS / "debug_tree.py"), "--transport", transport, "--root-debug", root_debug)
    kind = "a unix socket" if transport == "uds" else "tcp"
    r.expect_exact(f"root: debug_mode={root_debug == 'on'}, listening on {kind}")
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert r.cmd("p secret").strip().endswith("42")
    assert '-> return f"pauser resumed' in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("root got: pauser resumed with secret=42")
    r.expect(banner("CRASH", "divider", "root/divider") + ": ZeroDivisionError")
    assert "-> return a / b" in r.prompt()
    assert r.cmd("p a, b").strip().endswith("(1, 0)")
    r.child.sendline("c")
    if root_debug == "on":  # the root walks the error up in its own REPL
        r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ZeroDivisionError")
        r.prompt()
        r.child.sendline("c")
    r.expect("RemoteActorError: ZeroDivisionError: division by zero")
    assert r.finish() != 0
    if root_debug == "off":
        assert ">>> devx CRASH in actor 'root'" not in r.log.getvalue()


def test_what_the_code_after_c_prints_comes_before_the_next_repl(repl):
    """`c` frees the terminal at the paused code's next checkpoint: a line the code
    after `c` prints first (after computing a while) comes before the next REPL's
    banner, never inside its prompt."""
    r = repl(str(SCRIPTS / "print_after_c.py"))
    first = r.expect(r">>> devx PAUSE in actor '(?P<name>[ab])'").group("name")
    r.prompt()
    r.child.sendline("c")
    r.expect_exact(f"{first}: after c")
    second = r.expect(r">>> devx PAUSE in actor '(?P<name>[ab])'").group("name")
    assert second != first
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    r.child.sendline("c")
    r.expect_exact(f"{second}: after c")
    r.expect_exact("results: a done / b done")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    out = r.log.getvalue()
    assert out.index(f"{first}: after c") < out.index(f">>> devx PAUSE in actor '{second}'")


def test_post_mortem_in_an_except_block(repl):
    r = repl(str(SCRIPTS / "post_mortem_tree.py"))
    r.expect(banner("CRASH", "careful", "root/careful") + ": ZeroDivisionError")
    out = r.prompt()
    assert "post_mortem_tree.py(12)careful()" in out and "-> ratio = a / b" in out
    assert r.cmd("p a, b, ratio").strip().endswith("(1, 0, None)")
    r.child.sendline("c")
    r.expect_exact("root got: child went on, ratio=None")  # no error: the code went on
    r.expect(banner("CRASH", "root", "root") + ": KeyError: 'missing'")
    assert '-> {}["missing"]' in r.prompt()
    r.child.sendline("c")
    r.expect_exact("root: outside an except block: post_mortem() outside an except block")
    r.expect_exact("root: done")
    assert r.finish() == 0


def test_a_crash_whose_root_is_gone_says_so_in_one_line_with_the_error(proc_tree):
    """No crash REPL can be had once the root is killed: the crashing child says so
    in one line, with its own error's traceback (nobody else will get it), never a
    'crash hook failed' with devx's traceback."""
    tree = proc_tree(SCRIPTS / "crash_after_root_killed.py", DEVX_LOG_FORMAT="console")
    root, child = tree.pids()
    os.kill(root, signal.SIGKILL)
    _, err = tree.output()  # every process of the tree has gone
    assert (
        f"no crash REPL in actor 'root/worker' (pid {child}): the root actor is unreachable" in err
    ), err
    assert "RuntimeError: cleanup failed after the root died" in err
    assert "crash_after_root_killed.py" in err  # the user's frame, in the traceback
    assert "crash hook" not in err, err


def test_breakpoint_in_an_asyncio_task(repl):
    """breakpoint() in an asyncio task of an infect_asyncio actor (the peer's
    asyncio_bp.py): its REPL waits for the tree's lock like any pause, names the task,
    steps over an asyncio await, and the root's pause comes after it. Before: a
    RuntimeError 'called on the trio thread outside any task'."""
    r = repl("asyncio_breakpoint.py")
    r.expect(banner("SYNC_PAUSE", "aio", "root/aio"))
    out = r.prompt()
    assert out.startswith(": asyncio task 'count_up': ")
    assert stops_at_banner_line(out, "-> breakpoint()") == "asyncio_breakpoint.py(23)count_up()"
    assert r.cmd("p x").strip().endswith("41")
    assert "-> x += 1" in r.cmd("n")
    assert "-> await asyncio.sleep(0.2)" in r.cmd("n")
    assert "-> chan.send_nowait(x)" in r.cmd("n")  # over the asyncio await
    assert r.cmd("p x").strip().endswith("42")
    r.child.sendline("c")
    r.expect_exact("root got 42")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    assert r.finish() == 0


def test_pdb_set_trace_in_an_asyncio_task(repl):
    """`import pdb; pdb.set_trace()` there: the same REPL as breakpoint() (before: a
    bare `(Pdb)` beside the tree's REPLs)."""
    r = repl("asyncio_breakpoint.py", "pdb")
    r.expect(banner("SYNC_PAUSE", "aio", "root/aio"))
    out = r.prompt()
    assert out.startswith(": asyncio task 'count_up_pdb': ")
    assert "-> pdb.set_trace()  # in the asyncio task" in out
    assert r.cmd("p x").strip().endswith("41")
    assert "-> x += 1" in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("root got 42")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    assert r.finish() == 0


def test_breakpoint_in_an_asyncio_task_without_a_portal_says_why(repl):
    """A task started by bare asyncio (no greenback portal) cannot wait for the lock:
    the error says so and what to do, and its crash REPL opens at that line."""
    r = repl("asyncio_breakpoint.py", "no-portal")
    r.expect(banner("CRASH", "aio", "root/aio") + ": GreenbackNotEnabled: ")
    r.expect_exact("greenback.ensure_portal()")
    assert "-> breakpoint()  # in a task asyncio started" in r.prompt()
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: devx.GreenbackNotEnabled")
    r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0


def test_a_bare_asyncio_task_that_inits_its_portal_gets_its_repl(repl):
    """devx.debug.maybe_init_greenback() (the peer project's name) gives the task
    devx could not give a portal one: its breakpoint() then opens a REPL."""
    r = repl("asyncio_breakpoint.py", "init-portal")
    r.expect(banner("SYNC_PAUSE", "aio", "root/aio"))
    out = r.prompt()
    assert out.startswith(": asyncio task 'Task-") and "-> breakpoint()  # in a task" in out
    r.child.sendline("c")
    r.expect_exact("root got 42")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    assert r.finish() == 0


def test_await_pause_in_an_asyncio_task_says_what_to_use(repl):
    r = repl("asyncio_breakpoint.py", "await-pause")
    r.expect(banner("CRASH", "aio", "root/aio") + r": RuntimeError: `await devx.pause\(\)` in")
    r.expect_exact("on asyncio's side call breakpoint() (or devx.pause_from_sync()) instead")
    r.prompt()
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    assert r.finish() != 0
