"""The queue for the terminal, visible (examples/debugging/queue_three.py on a real
PTY): three children pause at once; the grant banner lists who waits, the REPL's
``waiters`` command the live queue (tree path, why, file:line, for how long),
``devx ps`` from another process the holder and the waiters; after ``c`` the next
banner lists who is left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _pty import EXAMPLES, assert_fits, banner, repl_fixture
from _queue_three import (
    ANY_BANNER,
    AT,
    WAITER,
    both_waiting,
    devx_ps,
    three_stopped,
    waiters_listed,
)
from conftest import scaled, wait_until

pytestmark = pytest.mark.timeout(120)

repl = repl_fixture(EXAMPLES / "debugging")
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def _words(section: str) -> list[str]:
    """A `devx ps` section's words, its durations (which go on) left out."""
    return re.sub(r"\((for|waiting) [\d.]+ s\)", "", section).split()


def test_three_pausing_children_the_queue_is_visible(repl, tmp_path):
    runtime_dir = tmp_path / "rt"  # a private registry: only this tree's lock file
    r = repl("queue_three.py", DEVX_RUNTIME_DIR=str(runtime_dir))
    first = r.expect(ANY_BANNER).group("name")
    r.prompt()
    # the other two ask for the terminal as they come: `waiters` shows the live queue
    out = both_waiting(r)
    assert re.search(rf"holder: root/{first}: {AT} \(for \d+\.\d s\)", out), out
    queue = waiters_listed(out)
    assert sorted([first, *queue]) == ["p0", "p1", "p2"]

    # another process asks the tree: the holder and the waiters, in order
    ps = devx_ps(runtime_dir)
    assert ps.returncode == 0, ps.stderr
    assert re.search(r"terminal of tree 'root' \(root root@\w+, pid \d+\):", ps.stdout), ps.stdout
    assert re.search(rf"holder: root/{first}: {AT}", ps.stdout), ps.stdout
    assert waiters_listed(ps.stdout) == queue, ps.stdout
    # on a narrow terminal the terminal's section is broken at spaces, words kept whole
    # (the trees table keeps its fixed columns whole: only its last cell is cut)
    narrow = devx_ps(runtime_dir, "--width", "50").stdout.split("\n\n")[-1]
    assert all(len(ln) <= 50 for ln in narrow.splitlines()), narrow
    assert _words(narrow) == _words(ps.stdout.split("\n\n")[-1]), narrow

    # `c`: the next in the queue gets the terminal; its banner names who is left
    assert r.cmd("p doubled").strip().endswith(str(int(first[1]) * 2))
    r.child.sendline("c")
    second = r.expect(ANY_BANNER).group("name")
    assert second == queue[0]
    r.expect(r"1 more waiting for the terminal, served in this order")
    r.expect(WAITER)
    assert r.child.match.group(2) == queue[1]
    r.prompt()
    out = r.cmd("waiters")
    assert re.search(rf"holder: root/{second}: {AT}", out), out
    assert waiters_listed(out) == [queue[1]]
    out = r.cmd("n")  # stepping on: the queue stays as it was
    assert "-> doubled += 1" in out  # the line after the pause, on every Python
    out = r.cmd("waiters")
    assert waiters_listed(out) == [queue[1]]
    # the holder is where this REPL stands now, not where it paused
    assert f"holder: root/{second}: pause at queue_three.py:20 in pause_here()" in out, out
    r.child.sendline("c")

    third = r.expect(ANY_BANNER).group("name")
    assert third == queue[1]
    banner_text = r.prompt()
    assert "more waiting" not in banner_text  # nobody left: no waiters line
    assert "nobody waits for the terminal" in r.cmd("waiters")
    r.child.sendline("c")
    r.expect_exact("results [1, 3, 5]")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    assert not list(runtime_dir.glob("tty-*.json"))  # the root removed its lock file
    assert_fits(r.log.getvalue())  # every banner: its waiters, the stepping hint


def test_a_holder_killed_at_its_prompt_is_said_before_the_next_banner(repl):
    """kill -9 of the holder while two REPLs wait: the root says who went away holding
    the terminal before the next one's banner (that banner came up under the dead
    holder's prompt with no word of why: the ActorExited waits behind the queue)."""
    r = repl("queue_three.py")
    first = r.expect(ANY_BANNER).group("name")
    pid = r.repl_pid
    assert pid is not None
    r.prompt()
    queue = waiters_listed(both_waiting(r))
    r.wait_reading(pid)
    os.kill(pid, signal.SIGKILL)
    r.expect_exact(
        f"[devx] root/{first} (pid {pid}) went away holding the terminal (pause): "
        "released (holder_lost)"
    )
    assert r.expect(ANY_BANNER).group("name") == queue[0]
    r.prompt()
    r.child.sendline("q")
    r.expect_exact(f"devx: quit from the REPL in actor 'root/{queue[0]}'")
    r.finish()
    assert_fits(r.log.getvalue())


def test_a_waiter_killed_in_the_queue_is_said_after_the_repl(repl, tmp_path):
    """kill -9 of a child queued for the terminal: it leaves `waiters`, and the root
    says so once the live REPL is done (not under its prompt), where nothing said it
    before (its ActorExited only once the root's code awaited that child)."""
    from _pty import lock_requests

    trace = tmp_path / "t.jsonl"
    r = repl("queue_three.py", DEVX_TELEMETRY_FILE=str(trace))
    _, queue = three_stopped(r)
    victim = f"root/{queue[0]}"

    def victims_pid() -> int | None:  # from its lock request's record, as it waits
        pids = {a["devx.actor.path"]: a["process.pid"] for a in lock_requests(trace)}
        return int(pids[victim]) if victim in pids else None

    pid = wait_until(victims_pid, scaled(20), "the victim's lock request on record")
    line = f"[devx] {victim} (pid {pid}) went away while it waited for the terminal (pause)"
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: waiters_listed(r.cmd("waiters")) == [queue[1]], scaled(20), "the victim gone"
    )
    assert line not in r.log.getvalue()  # held back while this REPL is live
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == queue[1]
    r.prompt()
    r.child.sendline("c")
    r.saw(line)
    r.expect(banner("CRASH", "root", "root"))  # the root awaits the dead child's result
    r.prompt()
    r.child.sendline("q")
    r.finish()


def test_ps_without_any_tree_says_so(tmp_path):
    runtime_dir = tmp_path / "rt"
    runtime_dir.mkdir(mode=0o700)
    ps = devx_ps(runtime_dir)
    assert ps.returncode == 0
    assert ps.stdout == ""
    assert "no devx tree of yours is running" in ps.stderr


def test_ps_names_the_root_at_its_own_repl_before_any_spawn(repl, tmp_path, monkeypatch):
    """A debug root paused before its first spawn: its REPL blocks its loop, and the
    task that writes the lock file with it. `devx ps` from another process names the
    root as the holder all the same (it said nobody holds the terminal)."""
    from devx.debug import lock_file

    runtime_dir = tmp_path / "rt"
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(runtime_dir))
    r = repl(SCRIPTS / "root_pause_first.py", DEVX_RUNTIME_DIR=str(runtime_dir))
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.wait_reading()  # the root's loop is blocked in its REPL

    def held() -> bool:
        return any(t.state.holder is not None for t in lock_file.trees())

    wait_until(held, scaled(10), "the lock file naming a holder")
    ps = devx_ps(runtime_dir)
    assert ps.returncode == 0, ps.stderr
    assert re.search(r"terminal of tree 'root' \(root root@\w+, pid \d+\):", ps.stdout), ps.stdout
    assert re.search(r"holder: root: pause at root_pause_first\.py:14 in main\(\)", ps.stdout), (
        ps.stdout
    )
    assert "nobody waits for the terminal" in ps.stdout
    # as far as the root read: its REPL blocks the loop that reads the children's asks
    assert "(the root's REPL blocks the root's loop: REPLs asked for since it stopped" in ps.stdout
    assert "-> y = x + 1" in r.cmd("n")  # the REPL goes on as before
    r.child.sendline("c")
    r.expect_exact("root resumed, y=2")
    assert r.finish() == 0
    assert lock_file.trees() == [] and not list(runtime_dir.glob("tty-*.json"))


def test_a_child_that_asked_during_the_roots_repl_is_served_before_the_roots_next(repl, tmp_path):
    """The root's REPL blocks its loop: a child's request made meanwhile waits unread
    in the root's socket. At `c` the root's code goes straight to its next pause,
    asked after the child's; the child's REPL comes first (it came second: the
    release granted the root's own request before the readers had their pass), and
    its banner lists the root as waiting."""
    go = tmp_path / "go"
    os.mkfifo(go)
    r = repl(SCRIPTS / "root_repl_then_child.py", str(go))
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    r.wait_reading()  # the root's loop is blocked in its REPL

    def told() -> bool:  # the child opened the FIFO (else ENXIO): tell it to ask
        try:
            fd = os.open(go, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.write(fd, b"go")
        os.close(fd)
        return True

    wait_until(told, scaled(10), "the child waiting for its word")
    r.expect_exact("asker asked")  # its request is in the root's socket
    assert r.cmd("p turn").strip().endswith("1")
    r.child.sendline("c")
    m = r.expect(r">>> devx PAUSE in actor '(\w+)'")
    assert m.group(1) == "asker", f"the root's later request came first:\n{r.log.getvalue()}"
    out = r.prompt()
    assert "1 more waiting for the terminal" in out, out
    assert re.search(r"1\. root: pause at root_repl_then_child\.py:\d+ in main\(\)", out), out
    assert "-> print(" in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("asker goes on")
    r.expect(banner("PAUSE", "root", "root"))
    r.prompt()
    assert r.cmd("p turn").strip().endswith("2")
    r.child.sendline("c")
    r.expect_exact("root goes on after turn 2")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    assert_fits(r.log.getvalue())


def test_a_dead_roots_lock_file_is_ignored_and_removed(tmp_path, monkeypatch):
    from devx.debug import lock_file
    from devx.debug.lock_protocol import LockState, encode

    runtime_dir = tmp_path / "rt"
    runtime_dir.mkdir(mode=0o700)
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(runtime_dir))
    dead_pid = 2**22 + 17  # above the default pid_max
    stale = runtime_dir / "tty-0123abcd.json"
    stale.write_text(
        json.dumps({"v": 1, "pid": dead_pid, "name": "root", "state": encode(LockState(seq=3))})
    )
    assert lock_file.trees() == []
    assert not stale.exists()


def test_a_tree_that_never_debugs_writes_no_lock_file(tmp_path):
    runtime_dir = tmp_path / "rt"
    code = (
        "import trio, devx\n"
        "async def main():\n"
        "    async with devx.open_nursery() as an:\n"
        "        portal = await an.start_actor('w', enable_modules=['os'])\n"
        "        await portal.run_from_ns('os', 'getpid')\n"
        "        await portal.cancel_actor()\n"
        "trio.run(main)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env={**os.environ, "DEVX_RUNTIME_DIR": str(runtime_dir)},
    )
    assert out.returncode == 0, out.stderr
    # no lock file; the root's advert for `devx ps` (tests/test_ps.py) went with it
    assert not runtime_dir.exists() or list(runtime_dir.iterdir()) == []


def test_two_pause_loops_hand_the_terminal_back_and_forth(repl):
    """Each child goes on from `c` straight to its next pause (no checkpoint in
    between): its release goes with that pause's request, so the root queues it
    before granting the other child, whose banner then always lists it (before, the
    release went a loop pass later, and the banner listed it or not by timing). What
    it printed after `c` comes before that banner."""
    turns = 3
    r = repl("pause_loops.py", str(turns))
    holder = r.expect(banner("PAUSE", r"(?P<name>p\d)", "root/p0").replace("root/p0", r"root/p\d"))
    holder = holder.group("name")
    r.prompt()
    assert r.cmd("p turn").strip().endswith("0")
    assert "-> print(" in r.cmd("n")  # over the pause call, as pdb's `n` does
    for k in range(2 * turns - 1):
        other = "p1" if holder == "p0" else "p0"
        line = f"{holder} goes on after turn {k // 2}"
        r.child.sendline("c")
        out = r.prompt()
        head = f">>> devx PAUSE in actor '{other}' (path root/{other}, pid "
        assert line in out and head in out, out
        assert out.index(line) < out.index(head), f"the banner came before {line!r}:\n{out}"
        if k < 2 * turns - 2:  # the one that continued paused again: it waits
            assert "1 more waiting for the terminal" in out, out
            assert f"1. root/{holder}: pause at pause_loops.py:21 in pause_loop()" in out, out
        else:  # its loop is done: nobody waits behind the last REPL
            assert "more waiting" not in out, out
        holder = other
    r.child.sendline("c")
    r.expect_exact(f"{holder} goes on after turn {turns - 1}")
    r.expect_exact("both loops done")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0
    assert_fits(r.log.getvalue())


def test_a_child_closing_its_channel_right_after_c_left_the_terminal(repl):
    """`c`, then the child's code closes its channel to the root before its loop's
    next pass (when the release would go out): the release goes first, so the root
    does not say the child went away holding the terminal it had left."""
    r = repl(str(SCRIPTS / "close_parent_after_c.py"))
    r.expect(banner("PAUSE", "closer", "root/closer"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("closer: channel closed")
    r.expect_exact("root: the closer went away")
    r.expect_exact("root: done")
    assert r.finish() == 0
    assert "went away holding the terminal" not in r.log.getvalue()
