"""One door into pdb, on a real pseudo-terminal: a breakpoint reached by another
task or thread waits for its turn with its own banner, a step never waits on a lock
its own tree holds for it, ctrl-c with no prompt on screen says what the tree waits
for, and every way into pdb, two at a time in two actors, never gives the terminal
two readers. Scenarios: examples/debugging/door_*.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pexpect
import pytest

from _pty import (
    PROMPT,
    Repl,
    assert_fits,
    banner,
    lock_requests,
    repl_fixture,
    stops_at_banner_line,
)
from conftest import devx_actor_pids, scaled, wait_until
from devx.core import schema

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"

repl = repl_fixture(EXAMPLES)

SANE = "terminal: echo=True icanon=True"
ANY_BANNER = r">>> devx ([A-Z_]+) in actor '([^']+)'"

SET_BREAK = {"b": "b hit_me", "tbreak": "tbreak hit_me", "cond": "b hit_me, k == 2"}
# which calls of hit_me(1), hit_me(2) stop: the value of k at each stop
STOPS = {"b": [1, 2], "tbreak": [1], "cond": [2]}


def _banners(text: str) -> list[tuple[str, str]]:
    return re.findall(ANY_BANNER, text)


@pytest.mark.parametrize(
    "mode, kind", [("task", "b"), ("task", "tbreak"), ("task", "cond"), ("thread", "b")]
)
def test_a_breakpoint_hit_by_another_task_waits_its_turn(repl, tmp_path, mode, kind):
    trace = tmp_path / "bp.otlp.jsonl"
    r = repl("door_breakpoint.py", mode, DEVX_TELEMETRY_FILE=str(trace))
    r.expect(banner("PAUSE", "bp", "root/bp"))
    r.prompt()
    assert "Breakpoint 1 at" in r.cmd(SET_BREAK[kind])
    # the holder queues once it has seen bp hold the terminal (the example waits for
    # that, so it must be seen before this REPL ends: a busy box may take seconds)
    wait_until(
        lambda: "root/holder: pause at " in r.cmd("waiters"),
        scaled(20),
        "the holder queued behind bp's REPL",
    )
    r.child.sendline("c")
    # the second actor takes the terminal; bp's other task (or thread) then reaches
    # the breakpoint and must queue for the terminal behind it
    r.expect(banner("PAUSE", "holder", "root/holder"))
    r.prompt()
    wait_until(
        lambda: any(a.get(schema.REASON) == "breakpoint" for a in lock_requests(trace)),
        scaled(20),
        "bp's breakpoint stop asking for the terminal",
    )
    r.assert_quiet()  # no second REPL while the holder's is live
    # the queue names the stop's place, as for a pause (the root's lock file, which
    # `waiters` reads in a child's REPL, is written a moment after the change)
    shown: list[str] = []
    wait_until(
        lambda: shown.append(r.cmd("waiters")) or "root/bp: breakpoint at " in shown[-1],
        scaled(10),
        "bp's breakpoint in the queue",
    )
    assert re.search(r"root/bp: breakpoint at door_breakpoint\.py:\d+ in hit_me\(\)", shown[-1])
    assert "holder" in r.cmd("p 'still holder'")
    r.child.sendline("c")
    for k in STOPS[kind]:
        r.expect(banner("BREAKPOINT", "bp", "root/bp"))
        out = r.prompt()
        if mode == "thread":
            assert "thread 'hitter-thread'" in out
        assert "-> doubled = k * 2" in out
        assert r.cmd("p k").strip().endswith(str(k))
        assert "-> return doubled" in r.cmd("n")
        r.child.sendline("c")
    r.expect_exact("bp got [2, 4]")
    r.expect_exact(SANE)
    assert r.finish() == 0
    text = r.log.getvalue()
    assert [who for _, who in _banners(text)] == ["bp", "holder", *["bp"] * len(STOPS[kind])]
    assert "NameError" not in text and "SyntaxError" not in text


def test_a_step_never_waits_on_the_terminal_its_own_tree_holds(repl):
    r = repl("door_step_wait.py")
    r.expect(banner("PAUSE", "echo", "root/echo"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "-> await stream.send(msg + 1)" in r.cmd("n")
    assert "-> async for msg in stream:" in r.cmd("n")
    # `n` waits for the caller's next message; the caller pauses first: the step
    # gives the terminal up, the caller's REPL comes (today: a hang)
    r.child.sendline("n")
    r.expect_exact("root/echo: the step runs on with no prompt")
    r.expect(banner("PAUSE", "root", "root"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    r.wait_reading()
    r.child.sendintr()  # a prompt is on screen: shielded, said by the REPL's actor
    r.expect_exact("[devx] ctrl-c shielded: root is in the REPL")
    r.prompt()
    assert "-> await stream.send(got)" in r.cmd("n")
    assert 'print(f"caller got' in r.cmd("n")
    r.assert_quiet()  # the callee's step stop waits for this REPL to end
    r.child.sendline("c")
    r.expect(banner("STEP", "echo", "root/echo"))
    out = r.prompt()
    assert "-> await devx.pause()" in out
    assert r.cmd("p msg").strip().endswith("2")
    # over the pause: re-entered in place, as for any stepping session
    assert "-> await stream.send(msg + 1)" in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("caller got 2 then 3")
    r.expect_exact("context result: echo done")
    r.expect_exact(SANE)
    assert r.finish() == 0
    assert [who for _, who in _banners(r.log.getvalue())] == ["echo", "root", "echo"]
    assert_fits(r.log.getvalue())  # the banners, their hint, the step's line


def _blocked_step(repl, go: Path) -> Repl:
    r = repl("door_blocked_step.py", str(go))
    r.expect(banner("PAUSE", "root", "root"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    assert "-> block_until(go)" in r.cmd("n")
    r.child.sendline("n")  # over sync code that blocks the loop: no prompt comes
    r.expect_exact("root blocks its loop")
    return r


def test_ctrl_c_with_no_prompt_says_what_the_tree_waits_for(repl, tmp_path):
    go = tmp_path / "go"
    r = _blocked_step(repl, go)
    r.child.sendintr()
    r.expect_exact("[devx] ctrl-c: no prompt is on screen; the terminal is held by root (pid")
    r.expect_exact("(3 ctrl-c within 2 s end the tree)")
    assert "ctrl-c shielded" not in r.log.getvalue()  # no prompt, so no such claim
    go.touch()
    out = r.prompt()  # the step ends: its prompt, then the waiter's turn
    assert 'print("root unblocked"' in out
    r.child.sendline("c")
    r.expect(banner("PAUSE", "waiter", "root/waiter"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("waiter done")
    r.expect_exact(SANE)
    assert r.finish() == 0


def test_three_ctrl_c_with_no_prompt_end_the_tree(repl, tmp_path):
    go = tmp_path / "go"
    r = _blocked_step(repl, go)
    for _ in range(3):
        r.child.sendintr()
        r.expect_exact("[devx] ctrl-c: no prompt is on screen")
    go.touch()  # trio delivers the interrupt once the blocking call returns
    r.expect_exact(SANE)
    r.expect_exact("KeyboardInterrupt")
    status = r.finish()
    assert status != 0
    text = r.log.getvalue()
    assert len(_banners(text)) == 1, "no REPL opens on the way out"
    assert "ctrl-c shielded" not in text


@pytest.mark.parametrize("mode", ["holder", "bystander"])
def test_three_ctrl_c_end_a_tree_whose_child_is_stuck_in_sync_code(repl, tmp_path, mode):
    """holder: the child holding the terminal steps over a sleep that blocks its loop
    (its presses must still reach the root); bystander: a child spins in a busy loop
    while another steps over a trio sleep. Either way the tree ends within the
    escalation: the stuck child is SIGTERMed, then SIGKILLed, named in one line."""
    pidfile = tmp_path / "pids"
    r = repl("door_stuck_child.py", mode, str(pidfile))
    who, stuck = ("stuck", "stuck") if mode == "holder" else ("stepper", "busy")
    r.expect(banner("PAUSE", who, f"root/{who}"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    r.child.sendline("n")
    r.prompt()
    r.child.sendline("n")  # over a call that never returns: no prompt comes
    r.saw("stuck blocks its loop" if mode == "holder" else "stepper naps")
    r.saw("busy spins" if mode == "bystander" else "stuck blocks its loop")
    wait_until(pidfile.exists, scaled(10), "the pids of the tree")
    pids = [int(p) for p in pidfile.read_text().split()]
    for _ in range(3):
        r.child.sendintr()
        r.expect_exact(f"[devx] ctrl-c: no prompt is on screen; the terminal is held by root/{who}")
    r.expect(rf"actor 'root/{stuck}' \(pid \d+\) still running [\d.]+s after cancel: SIGTERM")
    r.expect_exact(SANE, timeout=scaled(20))
    r.expect_exact("KeyboardInterrupt")
    assert r.finish() != 0
    text = r.log.getvalue()
    assert len(_banners(text)) == 1, "no REPL opens on the way out"
    assert "ctrl-c shielded" not in text
    assert " ERROR " not in text, text
    signalled = re.findall(r"actor '([^']+)' \(pid \d+\) (?:still running|ignored)", text)
    assert set(signalled) == {f"root/{stuck}"}, "only the stuck child is signalled"
    left = set(pids) & devx_actor_pids()
    assert not left, f"actors left running: {sorted(left)}"
    assert_fits(text)  # the banner, its hint, the ctrl-c lines


def test_three_ctrl_c_drop_a_childs_step_that_returns_later(repl, tmp_path):
    """The child holding the terminal steps over sync code that blocks its loop for a
    while, not forever: three ctrl-c end the tree, and when the blocking call returns
    the step is dropped (no prompt comes back on the way out, nothing is written
    under one) and the child takes the cancel by itself, not by SIGTERM/SIGKILL."""
    pidfile, go = tmp_path / "pids", tmp_path / "go"
    r = repl("door_stuck_child.py", "holder", str(pidfile), str(go))
    r.expect(banner("PAUSE", "stuck", "root/stuck"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    r.child.sendline("n")
    r.prompt()
    r.child.sendline("n")  # over a call that blocks the loop until `go` shows up
    r.saw("stuck blocks its loop")
    wait_until(pidfile.exists, scaled(10), "the pids of the tree")
    pids = [int(p) for p in pidfile.read_text().split()]
    for _ in range(3):
        r.child.sendintr()
        r.expect_exact("[devx] ctrl-c: no prompt is on screen; the terminal is held by root/stuck")
    go.touch()
    r.expect_exact(SANE, timeout=scaled(20))
    r.expect_exact("KeyboardInterrupt")
    assert r.finish() != 0
    text = r.log.getvalue()
    after = text[text.rindex("no prompt is on screen") :]
    assert PROMPT not in after, f"a prompt came back on the way out:\n{after}"
    assert len(_banners(text)) == 1, "no REPL opens on the way out"
    assert "SIGTERM" not in text and "SIGKILL" not in text, text
    left = set(pids) & devx_actor_pids()
    assert not left, f"actors left running: {sorted(left)}"


def test_press_sockets_of_dead_roots_are_removed():
    """A root killed before it removed its press socket leaves the file: the next
    debug root removes it (nobody is bound to it), not a live tree's."""
    import tempfile

    # (a short private directory: a socket's path has at most 107 bytes)
    with tempfile.TemporaryDirectory(prefix="dx") as where:
        _press_sockets_pruned(Path(where))


def _press_sockets_pruned(rt: Path) -> None:
    import socket
    import subprocess
    import sys

    dead, live = rt / "press-dead0123456789ab.sock", rt / "press-live0123456789ab.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(dead))  # closed at once: what a SIGKILLed root leaves
    code = (
        "import trio, devx\n"
        "async def main():\n"
        "    async with devx.open_nursery(debug_mode=True) as an:\n"
        "        portal = await an.start_actor('w', enable_modules=['os'])\n"
        "        await portal.run_from_ns('os', 'getpid')\n"
        "        await portal.cancel_actor()\n"
        "trio.run(main)\n"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as bound:
        bound.bind(str(live))
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=scaled(30),
            env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        )
        assert out.returncode == 0, out.stderr
        assert not dead.exists()
        assert live.exists()
    assert sorted(p.name for p in rt.glob("press-*.sock")) == [live.name]  # its own went


# --- the catalogue: every way into pdb, two at a time in two actors ----------------

WAYS = (
    "pause",
    "breakpoint",
    "thread",
    "post_mortem",
    "crash",
    "bp_task",
    "step",
    "pdb_set_trace",
    "pdb_post_mortem",
)
# every way meets three others (each as actor one and as actor two): 21 of 49 pairs
PAIRS = [(a, WAYS[(i + d) % len(WAYS)]) for i, a in enumerate(WAYS) for d in (0, 1, 3)]


def _drive(r: Repl, ways: dict[str, str]) -> list[tuple[str, str]]:
    """Answer every REPL as it comes, checking that each one is the only one: no
    banner between a banner and its prompt, none before the `c` that ends it (or
    the step that gives its turn up). Returns the banners in order."""
    seen: list[tuple[str, str]] = []
    while True:
        idx = r.child.expect([ANY_BANNER, "catalogue: both done", pexpect.EOF], timeout=scaled(30))
        if idx != 0:
            break
        reason, who = r.child.match.group(1), r.child.match.group(2)
        seen.append((reason, who))
        out = r.prompt()
        assert not _banners(out), f"a second REPL under {who}'s:\n{r.log.getvalue()}"
        way = ways.get(who, "")
        first = sum(1 for s in seen if s[1] == who) == 1
        if way == "bp_task" and reason == "PAUSE" and first:
            assert "Breakpoint 1" in r.cmd("b hit_me")
        elif way == "step" and reason == "PAUSE" and first:
            r.child.sendline("n")  # over the sleep: a prompt, or the turn given up
            got = r.child.expect_exact([PROMPT, "the step runs on with no prompt"])
            if got == 1:
                continue  # its STEP banner comes after the other REPL
            assert not _banners(r.child.before)
        marker = f"marker-{who}-{len(seen)}"
        assert marker in r.cmd(f"p '{marker}'")
        r.child.sendline("c")
    if idx == 1:
        r.expect(pexpect.EOF)
    return seen


@pytest.mark.parametrize("one, two", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_catalogue_two_ways_two_actors_one_reader(repl, one, two):
    r = repl("door_catalogue.py", one, two)
    seen = _drive(r, {"one": one, "two": two})
    text = r.log.getvalue()
    assert "catalogue: both done" in text, text
    for name in ("one", "two"):
        assert any(who == name for _, who in seen), f"{name} never had a REPL:\n{text}"
    r.child.close()
    assert "NameError" not in text and "SyntaxError" not in text
