"""pause_from_sync() from sync code on a task (greenback), from trio.to_thread and
bare threads, with no runtime, and the builtin breakpoint() remap: the examples under
examples/sync/ driven on a real PTY, plus in-process checks of the error paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import devx
from _pty import EXAMPLES, banner, lock_requests, repl_fixture, stops_at_banner_line
from conftest import await_until, run_script, scaled, wait_until
from devx.debug import breakpoint_hook

pytestmark = pytest.mark.timeout(60)

SYNC = EXAMPLES / "sync"
PLUMBING = ("greenback", "outcome", "trampoline", "_thread_cache", "devx/debug")


repl = repl_fixture(SYNC)


def run_plain(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """An example with stdin not a terminal (as under CI): it must never hang."""
    return run_script(SYNC / script, **env)  # a hang would time out


def assert_no_plumbing(where: str) -> None:
    for name in PLUMBING:
        assert name not in where, f"runtime frame {name!r} shown:\n{where}"


def test_greenback_pause_on_a_root_task(repl):
    r = repl("root_sync_pause.py")
    r.expect(banner("SYNC_PAUSE", "root", "root"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "root_sync_pause.py(9)sync_helper()"
    )
    assert r.cmd("p x").strip().endswith("21")
    where = r.cmd("w")
    assert "main()" in where
    assert_no_plumbing(where)
    assert "-> y = x * 2" in r.cmd("n")
    r.cmd("n")
    assert r.cmd("p y").strip().endswith("42")
    r.child.sendline("c")
    r.expect_exact("root got 42")
    assert r.finish() == 0


def test_greenback_pause_on_a_child_task(repl):
    r = repl("child_sync_pause.py")
    r.expect(banner("SYNC_PAUSE", "cruncher", "root/cruncher"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "child_sync_pause.py(10)crunch()"
    )
    assert r.cmd("p total").strip().endswith("6")
    # `n` is a local here: pdbp prints it (as the README says), and devx says so once
    # with the way out (a `c` that printed a portal read as a hang); `!!n` is the command
    out = r.cmd("n")
    assert out.strip().splitlines()[-1] == "4"
    assert "[devx] `n` is a name in this frame: that shows its value; `next` (or `!!n`)" in out
    assert "[devx]" not in r.cmd("n")  # once per name
    assert "-> return total + 1" in r.cmd("!!n")
    where = r.cmd("w")
    assert "worker()" in where
    assert_no_plumbing(where)
    r.child.sendline("c")
    r.expect_exact("child returned 7")
    assert r.finish() == 0


def test_a_task_without_portal_gets_a_clear_error_never_a_hang():
    out = run_plain("no_portal.py")  # a hang would time out
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error: devx.pause_from_sync() was called from sync code on trio task" in out.stdout
    assert "'early_task'" in out.stdout
    assert "nursery opened before the actor's runtime" in out.stdout
    assert "greenback.ensure_portal()" in out.stdout


def test_pause_in_a_to_thread_worker(repl):
    r = repl("to_thread_pause.py")
    r.expect(banner("THREAD", "root", "root") + r": thread '[^']*blocking_work[^']*'")
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "to_thread_pause.py(13)blocking_work()"
    )
    assert r.cmd("p item").strip().endswith("'spam'")
    assert "-> return result" in r.cmd("n")
    assert_no_plumbing(r.cmd("w"))

    # the REPL runs in the worker thread: the root's loop goes on meanwhile
    def ticks() -> int:
        return int(r.cmd("p __import__('__main__').ticks").strip().splitlines()[-1])

    first = ticks()
    wait_until(lambda: ticks() > first, scaled(2), "the root's ticker to tick on")
    r.child.sendline("c")
    r.expect_exact("worker returned SPAM")
    assert r.finish() == 0


def test_a_step_over_a_to_thread_call_whose_thread_pauses(repl):
    """The thread's pause is its own REPL, not a re-entry of the stepping task's (trio
    runs the thread's `from_thread.run` in that very task): the step gives the
    terminal up, the thread's REPL opens, then the step stops on the next line."""
    r = repl("step_onto_thread_pause.py")
    r.expect(banner("PAUSE", "stepper", "root/stepper"))
    r.prompt()
    assert "-> got = await trio.to_thread.run_sync(in_thread, item)" in r.cmd("n")
    r.child.sendline("n")
    r.expect(banner("THREAD", "stepper", "root/stepper") + r": thread '[^']*in_thread[^']*'")
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "step_onto_thread_pause.py(12)in_thread()"
    )
    assert r.cmd("p shout").strip().endswith("'SPAM'")
    r.child.sendline("c")
    r.expect(banner("STEP", "stepper", "root/stepper"))
    out = r.prompt()
    assert stops_at_banner_line(out, '-> done = got + "!"') == (
        "step_onto_thread_pause.py(19)work()"
    )
    assert r.cmd("p got").strip().endswith("'SPAM'")
    r.child.sendline("c")
    r.expect_exact("stepper returned SPAM!")
    assert r.finish() == 0


def test_ctrl_c_while_a_thread_repl_is_live(repl):
    r = repl("to_thread_pause.py")
    r.expect(banner("THREAD", "root", "root"))
    r.prompt()
    r.wait_reading()
    r.child.send("p 40")  # half a line typed: readline holds it
    r.expect_exact("p 40")
    r.child.sendintr()
    r.expect_exact("ctrl-c shielded: root is in the REPL")
    # the prompt comes back with what was typed, as the thread's readline still has it
    r.expect_exact("(Pdb+) p 40")
    assert r.cmd(" + 2").strip().endswith("42")  # the same REPL, the loop unharmed
    r.child.sendline("c")
    r.expect_exact("worker returned SPAM")
    assert r.finish() == 0


def test_ctrl_c_while_a_thread_repls_command_runs_draws_no_prompt(repl, tmp_path):
    """ctrl-c while a thread REPL runs a command (not at its prompt): the shield's
    line only; the prompt comes once, after the command's result, as pdb draws it."""
    started, fifo = tmp_path / "started", tmp_path / "fifo"
    os.mkfifo(fifo)
    r = repl("to_thread_pause.py")
    r.expect(banner("THREAD", "root", "root"))
    r.prompt()
    r.wait_reading()
    # the command says it runs (a file), then blocks until the test writes the fifo
    r.child.sendline(f"p open({str(started)!r}, 'w').close() or open({str(fifo)!r}).read()")
    wait_until(started.exists, scaled(20), "the command running")
    r.child.sendintr()
    r.expect_exact("ctrl-c shielded: root is in the REPL")
    with open(fifo, "w") as w:
        w.write("done")
    r.expect_exact("'done'")
    assert "(Pdb+)" not in r.child.before, r.child.before  # no prompt under the command
    r.prompt()
    assert r.cmd("p 40 + 2").strip().endswith("42")  # the same REPL reads on
    r.child.sendline("c")
    r.expect_exact("worker returned SPAM")
    assert r.finish() == 0


def test_pause_in_a_bare_thread_of_a_child(repl):
    r = repl("child_bare_thread.py")
    r.expect(banner("THREAD", "threader", "root/threader") + ": thread 'bg-worker'")
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync()") == (
        "child_bare_thread.py(13)thread_body()"
    )
    assert "-> results.append(value * 6)" in r.cmd("n")
    assert r.cmd("p value").strip().endswith("7")
    r.child.sendline("c")
    r.expect_exact("child returned 42")
    assert r.finish() == 0


def test_quit_in_a_threads_repl_is_one_line(repl):
    """`q` in a plain thread's REPL raises BdbQuit in that thread, as pdb does; the
    thread's end is one devx line, not threading's "Exception in thread" traceback
    through bdb's and devx's frames."""
    r = repl("child_bare_thread.py")
    r.expect(banner("THREAD", "threader", "root/threader") + ": thread 'bg-worker'")
    r.prompt()
    r.child.sendline("q")
    r.expect_exact("devx: quit from the REPL in thread 'bg-worker' of actor 'root/threader'")
    r.finish()
    text = r.log.getvalue()
    assert "Exception in thread" not in text and "bdb.py" not in text, text


def test_two_threads_pausing_at_once_get_one_repl_after_the_other(repl, tmp_path):
    trace_file = tmp_path / "tree.otlp.jsonl"
    r = repl("two_threads.py", DEVX_TELEMETRY_FILE=str(trace_file))
    pattern = banner("THREAD", "root", "root") + r": thread 'pauser-(?P<n>\d)'"
    seen = []
    for _ in range(2):
        n = r.expect(pattern).group("n")
        seen.append(n)
        r.prompt()
        # both threads have asked for the TTY (the other one waits for it) ...
        wait_until(lambda: len(lock_requests(trace_file)) >= 2, scaled(5), "both lock requests")
        r.assert_quiet()  # ... yet no second REPL while this one is live
        assert r.cmd("p n").strip().endswith(n)
        r.child.sendline("c")  # the other thread's banner may come before this one's
    assert sorted(seen) == ["0", "1"]  # next line: both orders happen
    r.expect_exact("both threads done")
    for n in seen:
        r.saw(f"thread {n} resumed")
    assert r.finish() == 0


def test_builtin_breakpoint_in_a_child_lands_in_the_devx_repl(repl):
    r = repl("builtin_breakpoint.py")
    r.expect_exact("hook remapped in the root: True")
    r.expect(banner("SYNC_PAUSE", "stopper", "root/stopper"))
    out = r.prompt()
    assert stops_at_banner_line(out, "-> breakpoint()") == "builtin_breakpoint.py(13)stopper()"
    assert r.cmd("p word").strip().endswith("'ni'")
    assert "-> return word * 2" in r.cmd("n")
    assert_no_plumbing(r.cmd("w"))
    r.child.sendline("c")
    r.expect_exact("child returned nini")
    r.expect_exact("hook restored: True")
    assert r.finish() == 0


def test_builtin_breakpoint_in_a_sync_function_called_remotely(repl):
    """A sync function given to run_in_actor or portal.run runs in a task of its own
    in debug mode (not inline in the channel reader, which has no portal): its
    breakpoint() is a REPL, not a GreenbackNotEnabled crash."""
    r = repl("sync_rpc_breakpoint.py")
    for name, x, got in (("once", 1, "once returned 20"), ("worker", 4, "worker returned 50")):
        r.expect(banner("SYNC_PAUSE", name, f"root/{name}"))
        out = r.prompt()
        assert stops_at_banner_line(out, "-> breakpoint()") == (
            "sync_rpc_breakpoint.py(12)compute()"
        )
        assert r.cmd("p x, y").strip().endswith(f"({x}, {x + 1})")
        assert "-> return y * 10" in r.cmd("next")
        r.child.sendline("c")
        r.expect_exact(got)
    assert r.finish() == 0


def test_pythonbreakpoint_set_by_the_user_wins():
    out = run_plain("builtin_breakpoint.py", PYTHONBREAKPOINT="0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hook remapped in the root: False" in out.stdout
    assert ">>> devx" not in out.stdout  # breakpoint() disabled, as the user asked
    assert "child returned nini" in out.stdout and "hook restored: True" in out.stdout


def test_no_runtime_error_or_plain_repl(repl):
    r = repl("no_runtime.py")
    r.expect_exact("error: devx.pause_from_sync() needs the actor runtime")
    r.expect(r">>> devx SYNC_PAUSE in process pid \d+ \(no actor runtime\)")
    out = r.prompt()
    assert stops_at_banner_line(out, "-> devx.pause_from_sync(") == "no_runtime.py(13)main()"
    assert r.cmd("p answer").strip().endswith("42")
    assert "-> print(" in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("answer is 42")
    assert r.finish() == 0


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("root_sync_pause.py", "root got 42"),
        ("to_thread_pause.py", "worker returned SPAM"),
        ("child_bare_thread.py", "child returned 42"),
        ("two_threads.py", "both threads done"),
    ],
)
def test_stdin_not_a_terminal_never_hangs(script, expected):
    out = run_plain(script)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stdin is not a terminal: no REPL, continuing" in out.stdout
    assert expected in out.stdout


# --- in process ------------------------------------------------------------------


def test_errors_without_runtime_or_debug_mode():
    with pytest.raises(devx.NoRuntime, match="allow_no_runtime=True"):
        devx.pause_from_sync()

    async def main():
        async with devx.open_root_actor():
            with pytest.raises(RuntimeError, match="debug_mode=True"):
                devx.pause_from_sync()
            with pytest.raises(RuntimeError, match="debug_mode=True"):
                await trio.to_thread.run_sync(devx.pause_from_sync)

    trio.run(main)


def test_debug_mode_but_task_without_portal():
    """A task the runtime started before the portals (a service task) gets a
    message naming the way out, not a hang."""
    from devx.debug.sync import GreenbackNotEnabled

    got: list[str] = []

    async def service():
        try:
            devx.pause_from_sync()
        except GreenbackNotEnabled as err:
            got.append(str(err))

    async def main():
        async with devx.open_root_actor(debug_mode=True) as actor:
            actor._service.start_soon(service)  # spawned in a nursery older than the portals
            await await_until(lambda: got, scaled(5), "the service's error")
        assert "has no greenback portal" in got[0] and "ensure_portal" in got[0]

    trio.run(main)


def test_breakpointhook_installed_and_restored(monkeypatch):
    monkeypatch.delenv("PYTHONBREAKPOINT", raising=False)

    def mine(*args, **kwargs):
        pass

    monkeypatch.setattr(sys, "breakpointhook", mine)
    seen = {}

    async def main(**kw):
        async with devx.open_root_actor(**kw):
            seen[kw.get("debug_mode", False)] = sys.breakpointhook

    trio.run(main)
    assert seen[False] is mine  # not in debug mode: untouched
    trio.run(lambda: main(debug_mode=True))
    assert seen[True] is breakpoint_hook.devx_breakpointhook
    assert sys.breakpointhook is mine
    monkeypatch.setenv("PYTHONBREAKPOINT", "pdb.set_trace")
    trio.run(lambda: main(debug_mode=True))
    assert seen[True] is mine  # the user's explicit choice wins
    assert sys.breakpointhook is mine


def test_a_hook_the_program_set_is_replaced_in_its_children_as_in_its_root():
    """A ``sys.breakpointhook = ...`` at the program's top level runs again in a child
    that loads the script, after the child's remap: the root's ``breakpoint()`` was
    devx's (its open_root_actor came after the assignment) and the child's the
    program's hook. Both are devx's now (here, with no terminal: the skip line)."""
    script = Path(__file__).parent / "scripts" / "users_breakpointhook.py"
    out = run_script(script, timeout=scaled(60))
    assert out.returncode == 0, out.stderr
    assert "myhook called" not in out.stdout, out.stdout
    for path in ("root", "root/c1"):
        assert f"SYNC_PAUSE in actor {path.rsplit('/', 1)[-1]!r} (path {path}," in out.stdout
    assert out.stdout.count("stdin is not a terminal: no REPL, continuing") == 2
    assert "root done" in out.stdout and "c1 done" in out.stdout


def test_a_threads_lock_records_belong_to_the_users_span(tmp_path):
    """The root's lock records of a pause from a worker thread join the span the
    pausing task was in, the release included (it is sent from a loop callback, whose
    own context is the actor's)."""
    from _pty import Repl
    from devx.telemetry.readback import load_logs, load_spans

    trace = tmp_path / "t.jsonl"
    script = Path(__file__).parent / "scripts" / "thread_pause_in_span.py"
    r = Repl(script, DEVX_TELEMETRY_FILE=str(trace))
    try:
        r.prompt()
        r.child.sendline("c")
        r.expect_exact("root: done")
        assert r.finish() == 0
    finally:
        r.close()
    names = {s["span_id"]: s["name"] for s in load_spans(trace)}
    lock = [
        (rec["event_name"], names.get(rec.get("span_id")))
        for rec in load_logs(trace)
        if rec["event_name"].startswith("devx.tty_lock.")
    ]
    assert lock == [
        ("devx.tty_lock.requested", "user.work"),
        ("devx.tty_lock.granted", "user.work"),
        ("devx.tty_lock.released", "user.work"),
    ]
