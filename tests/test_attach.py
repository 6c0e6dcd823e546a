"""``devx attach``: a debug tree that runs without a terminal (its own session, stdin
/dev/null: examples/debugging/attach_tree.py) keeps each REPL waiting for a client;
the client, on a real PTY, is that REPL's terminal and takes the next one after it.
A second client is refused, a killed or detached client gives the REPL back, and
``DEVX_ATTACH_TIMEOUT`` skips a REPL nobody came for."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

import devx
from _pty import EXAMPLES, PROMPT, Repl, assert_fits
from conftest import _REAL_TMP as REAL_TMP
from conftest import scaled, wait_until
from devx.core import schema

pytestmark = pytest.mark.timeout(120)

TREE = EXAMPLES / "debugging" / "attach_tree.py"
BANNER = r">>> devx PAUSE in actor '(w\d)' \(path root/w\d, pid (\d+)\)"


@pytest.fixture
def rt(tmp_path: Path) -> Path:
    path = tmp_path / "rt"
    path.mkdir(mode=0o700)
    return path


def start_tree(proc_tree, rt: Path, *args: str, **env: str):
    return proc_tree(TREE, *args, **{"DEVX_RUNTIME_DIR": str(rt), "NO_COLOR": "1", **env})


def tree_says(tree, text: str) -> str:
    """Read the tree's stdout until a line containing ``text``."""
    while True:
        line = tree.line("")
        if text in line:
            return line


def client(rt: Path, *args: str) -> Repl:
    c = Repl("attach", *args, module="devx", DEVX_RUNTIME_DIR=str(rt))
    return c


def attach_once(rt: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devx", "attach", *args],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )


def test_attach_step_and_take_the_next_repl(proc_tree, rt, tmp_path):
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    tree = start_tree(proc_tree, rt, "2", DEVX_TELEMETRY_FILE=str(trace))
    tree_says(tree, "waiting for `devx attach`")
    ps = subprocess.run(
        [sys.executable, "-m", "devx", "ps"],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert re.search(
        r"waiting for `devx attach`: root/w\d: pause at attach_tree\.py:\d+ in work", ps.stdout
    )

    c = client(rt, str(tree.pid))
    seen = set()
    for _ in range(2):  # two waiting REPLs, one after the other, in one client
        c.expect(r"\[devx attach\] attached to root/w\d")
        name = c.expect(BANNER).group(1)
        seen.add(name)
        assert "-> await devx.pause()" in c.prompt()
        x = c.cmd("p x").strip().splitlines()[-1]
        assert x == str(40 + int(name[1]))
        # (the client's keys are set before it connects: no race with a prompt)
        c.child.sendintr()  # ctrl-c in the client: shielded as on a terminal
        # the same words as on a terminal (the hint included)
        c.expect_exact(
            f"[devx] ctrl-c shielded: root/{name} is in the REPL ('c' to continue, 'q' to quit)"
        )
        c.prompt()
        assert "-> x += 1" in c.cmd("n")
        assert c.cmd("p x").strip().splitlines()[-1] == x
        c.child.sendline("c")
    assert seen == {"w0", "w1"}
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    out, _ = tree.output()
    assert "results [41, 42]" in out
    attached = [
        s["attributes"]
        for s in load_spans(trace)
        if s["name"] == schema.LOCK_HELD_SPAN and schema.ATTACH_CLIENT_PID in s["attributes"]
    ]
    assert len(attached) == 2
    assert {a[schema.ATTACH_CLIENT_PID] for a in attached} == {c.child.pid}
    assert all(a[schema.ATTACH_WAIT_S] >= 0 for a in attached)


def test_second_client_refused_killed_client_gives_the_repl_back(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1")
    tree_says(tree, "waiting for `devx attach`")
    first = client(rt)
    first.expect(BANNER)
    first.prompt()
    tree_says(tree, f"`devx attach` pid {first.child.pid}")
    second = attach_once(rt)
    assert second.returncode == 1
    assert f"already attached by pid {first.child.pid}" in second.stderr
    # where that client is, and how to get the REPL from it
    said = r"on /dev/pts/\d+ to root/w0: ctrl-\\ there detaches it"
    assert re.search(said, second.stderr), second.stderr

    first.child.kill(signal.SIGKILL)  # the client disappears
    first.child.close()
    tree_says(tree, "root/w0: the client went away; the REPL waits for `devx attach` again")
    again = client(rt)
    again.expect(BANNER)  # the same REPL, at the same line, its banner again
    again.expect_exact(PROMPT)
    assert again.cmd("p x").strip().splitlines()[-1] == "40"

    again.child.sendcontrol("\\")  # ctrl-\: detach, the REPL keeps waiting
    again.expect_exact("[devx attach] detached")
    assert again.finish() == 0
    tree_says(tree, "root/w0: the client detached")

    last = client(rt)
    last.expect(BANNER)
    last.prompt()
    assert "-> x += 1" in last.cmd("n")
    last.child.sendcontrol("\\")  # detached after a step: the REPL is a line further
    last.expect_exact("[devx attach] detached")
    assert last.finish() == 0
    tree_says(tree, "root/w0: the client detached")

    back = client(rt)
    back.expect(BANNER)  # the banner names where the REPL stands now ...
    # ... and pdb's stop line under it
    assert re.search(r"attach_tree\.py\(\d+\)work\(\)\r?\n-> x \+= 1", back.prompt())
    back.child.sendline("c")
    back.expect_exact("[devx attach] tree 'root'")
    assert back.finish() == 0
    assert tree.wait() == 0
    assert "results [41]" in tree.output()[0]


def devx_ps(rt: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "devx", "ps"],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        capture_output=True,
        text=True,
        timeout=scaled(20),
        check=True,
    ).stdout


def test_ps_says_who_is_attached(proc_tree, rt):
    """An operator reads `devx ps` before attaching: it said "waiting for `devx
    attach`" while a client was attached (the attach then refused), and says so again
    once that client detached."""
    tree = start_tree(proc_tree, rt, "1")
    tree_says(tree, "waiting for `devx attach`")
    assert "waiting for `devx attach`: root/w0: pause at attach_tree.py" in devx_ps(rt)
    c = client(rt)
    c.expect(BANNER)
    c.prompt()
    tree_says(tree, f"`devx attach` pid {c.child.pid}")
    shown = devx_ps(rt)
    assert f"attached (`devx attach` pid {c.child.pid} on " in shown, shown
    assert re.search(r"attached \(`devx attach` pid \d+ on /dev/pts/\d+\): root/w0: pause", shown)
    assert "waiting for `devx attach`" not in shown
    c.child.sendcontrol("\\")
    c.expect_exact("[devx attach] detached")
    assert c.finish() == 0
    tree_says(tree, "root/w0: the client detached")
    assert "waiting for `devx attach`: root/w0: pause at attach_tree.py" in devx_ps(rt)
    again = client(rt)
    again.expect(BANNER)
    again.prompt()
    again.child.sendline("c")
    again.expect_exact("[devx attach] tree 'root'")
    assert again.finish() == 0
    assert tree.wait() == 0
    assert not list(rt.glob("attach-*"))  # key, socket, client note: gone with the tree


def test_ps_names_a_root_waiting_for_its_client_before_any_spawn(proc_tree, rt):
    """The root of an attach-mode tree pauses before its first spawn: its wait for a
    client blocks its loop (and the task that writes the lock file). `devx ps` says
    the root waits for `devx attach` (it said nobody holds the terminal)."""
    script = Path(__file__).parent / "scripts" / "root_pause_first.py"
    tree = proc_tree(script, DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1", DEVX_ATTACH="1")
    tree_says(tree, "waiting for `devx attach`")
    said = "waiting for `devx attach`: root: pause at root_pause_first.py:14 in main()"
    wait_until(lambda: said in devx_ps(rt), scaled(10), "devx ps naming the root")
    got = attach_piped(rt, "c\n")
    assert "attached to root" in got.stdout, got.stdout + got.stderr
    assert tree.wait() == 0
    assert "root resumed, y=2" in tree.output()[0]


def test_a_sigterm_while_the_roots_own_repl_waits_for_a_client(proc_tree, rt):
    """The root's own REPL waits for `devx attach` (its crash after a worker died, a
    pause), nobody attached, and SIGTERM comes (`docker stop`): its wait blocks the
    loop, which took no cancel, so after DEVX_CANCEL_GRACE the process ended itself
    hard ('its loop did not react within 3s ... exiting now', exit 143, children
    SIGKILLed, the root's telemetry unwritten). The wait ends at once, as on a
    SIGINT (the pause goes on, as one skipped, to the cancel at its next
    checkpoint), and the tree ends as on any SIGTERM: the process dies of it."""
    script = Path(__file__).parent / "scripts" / "root_pause_first.py"
    tree = proc_tree(script, DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1", DEVX_ATTACH="1")
    tree_says(tree, "root: pause at root_pause_first.py:14 in main(): waiting for `devx attach`")
    os.kill(tree.pid, signal.SIGTERM)
    said = tree_says(tree, "[devx] root: SIGTERM while ")
    assert "waited for `devx attach` with nobody attached: the tree ends, no REPL" in said
    assert tree.wait() == -signal.SIGTERM
    out, err = tree.output()
    assert "did not react" not in err, out + err
    assert out.count("waited for `devx attach`") == 1, out


def test_a_crash_raised_inside_devx_is_placed_at_the_users_code(proc_tree, rt):
    """A service's child is SIGKILLed (the OOM killer) while the root's block waits:
    the root's ActorExited is raised inside devx as the block unwinds, and its crash
    REPL stops at the user's line waiting in the block, but the tree's line and
    `devx ps` placed the crash at devx's own frame (`crash at root.py:171 in
    open_root_actor()`), which says nothing to whoever reads the service's log."""
    script = Path(__file__).parent / "scripts" / "child_killed_under_block.py"
    tree = proc_tree(script, DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1", DEVX_ATTACH="1")
    victim = int(tree_says(tree, "VICTIM").split()[1])
    os.kill(victim, signal.SIGKILL)
    said = tree_says(tree, "[devx] root: crash at ")
    where = "child_killed_under_block.py:20 in main()"  # the block's `async with`
    assert said.startswith(f"[devx] root: crash at {where} (ActorExited: "), said
    wait_until(lambda: f"root: crash at {where}" in devx_ps(rt), scaled(10), "devx ps")
    got = attach_piped(rt, "c\n")  # the REPL stops there too
    assert "child_killed_under_block.py(20)main()" in got.stdout, got.stdout + got.stderr
    assert tree.wait() == 1


def test_a_crash_raised_inside_devx_shows_the_users_frame(proc_tree, rt):
    """The same crash with no terminal (the service's log): the banner's traceback was
    devx's frames alone (`root.py, line 165, in open_root_actor: yield actor`). It
    shows the user's code waiting on it, says the error was raised inside devx, and
    the error's line names the worker that died and how."""
    script = Path(__file__).parent / "scripts" / "child_killed_under_block.py"
    tree = proc_tree(script, DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1")
    victim = int(tree_says(tree, "VICTIM").split()[1])
    os.kill(victim, signal.SIGKILL)
    assert tree.wait() == 1
    out, _ = tree.output()
    shown = out.partition(">>> devx CRASH in actor 'root'")[2].partition("stdin is not a")[0]
    assert shown, out
    assert 'child_killed_under_block.py", line 20, in main' in shown, shown
    assert "async with devx.open_nursery(debug_mode=True) as an:" in shown, shown
    assert "(raised inside devx while your code waited here)" in shown, shown
    died = f"devx.ActorExited: actor 'root/victim' (pid {victim}) was killed by SIGKILL"
    assert died in shown, shown
    package = os.path.dirname(devx.__file__) + os.sep  # (not the checkout's name)
    assert package not in shown, shown  # no devx frame


def test_a_crash_raised_inside_devx_shows_every_worker_that_died(proc_tree, rt):
    """The same with two workers SIGKILLed: the root's crash is a group of their two
    ActorExited, and its banner names each (which worker, how it ended); it said
    only 'ExceptionGroup: 2 errors in an actor nursery (2 sub-exceptions)'."""
    script = Path(__file__).parent / "scripts" / "child_killed_under_block.py"
    tree = proc_tree(script, "two", DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1")
    victims = [int(p) for p in tree_says(tree, "VICTIM").split()[1:]]
    for sig in (signal.SIGSTOP, signal.SIGKILL):  # (stopped first: both die killed)
        for victim in victims:
            os.kill(victim, sig)
    assert tree.wait() == 1
    out, _ = tree.output()
    shown = out.partition(">>> devx CRASH in actor 'root'")[2].partition("stdin is not a")[0]
    assert "(raised inside devx while your code waited here)" in shown, shown
    for name, victim in zip(("victim1", "victim2"), victims, strict=True):
        died = f"devx.ActorExited: actor 'root/{name}' (pid {victim}) was killed by SIGKILL"
        assert died in shown, shown


def test_nobody_attaches_within_the_deadline(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1", DEVX_ATTACH_TIMEOUT="0.2")
    tree_says(tree, "waiting for `devx attach` (for 0.2 s)")
    tree_says(tree, "root/w0: nobody attached within 0.2 s (DEVX_ATTACH_TIMEOUT): no REPL")
    assert tree.wait() == 0
    assert "results [41]" in tree.output()[0]
    # the tree's attach files go with it (its key stayed, one per tree)
    assert not list(rt.glob("attach-*"))


def test_the_deadline_is_the_trees_not_each_repls(proc_tree, rt):
    """DEVX_ATTACH_TIMEOUT bounds the tree's wait in all: four children stop, nobody
    attaches; the first REPL waits the timeout, the others are skipped at once,
    each saying why (they waited it in turn before: N REPLs, N timeouts; a CI job
    whose eight workers crash waited 80 minutes at 600 s)."""
    tree = start_tree(proc_tree, rt, "4", DEVX_ATTACH_TIMEOUT="0.3")
    first = tree_says(tree, "waiting for `devx attach` (for 0.3 s)")
    who = first.split(":")[0].removeprefix("[devx] ")
    tree_says(tree, f"{who}: nobody attached within 0.3 s (DEVX_ATTACH_TIMEOUT): no REPL")
    skipped = set()
    out_lines = []
    while len(skipped) < 3:
        line = tree.line("")
        out_lines.append(line)
        assert "waiting for `devx attach`" not in line, out_lines
        if "the tree's wait in all" in line:
            assert "no REPL, continuing: the tree's REPLs waited 0.3 s for `devx attach`" in line
            skipped.add(line.split(":")[0])
    assert who not in {s.removeprefix("[devx] ") for s in skipped}
    assert tree.wait() == 0
    assert "results [41, 42, 43, 44]" in tree.output()[0]
    assert not list(rt.glob("attach-*"))  # (the tree's wait on record went with it)


def test_attach_without_a_waiting_tree_says_so(rt):
    got = attach_once(rt)
    assert got.returncode == 1
    assert f"no tree of yours waits for `devx attach` in {rt} (" in got.stderr, got.stderr
    # a tree started with another DEVX_RUNTIME_DIR (a CI job's) registers there
    assert "started with: give this one the same" in got.stderr, got.stderr


def test_attach_with_stdin_closed_says_so(rt):
    """``devx attach <&-`` (a daemon's closed stdin): one line saying there is no
    input for the REPL, not an AttributeError traceback."""
    got = subprocess.run(
        ["sh", "-c", 'exec "$0" -m devx attach <&-', sys.executable],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert got.returncode == 1, got.stderr
    assert got.stderr.startswith("devx: attach: stdin is closed"), got.stderr
    assert "Traceback" not in got.stderr


def attach_piped(rt: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``printf SCRIPT | devx attach [ARGS]``: a scripted attach, stdin a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "devx", "attach", *args],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt), "NO_COLOR": "1"},
        input=script,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )


def test_a_piped_script_is_one_command_per_prompt_across_repls(proc_tree, rt):
    """Piped input is read as a REPL reading a pipe reads it: one line per prompt
    (each echoed after it), the rest for the next prompt and the next REPL (it was
    all one "line" to the first REPL: ``p x\nn...`` a SyntaxError, then the pipe's end
    a quit)."""
    tree = start_tree(proc_tree, rt, "2")
    tree_says(tree, "waiting for `devx attach`")
    got = attach_piped(rt, "p x\nn\np x + 100\nc\np x\nc\n")
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stderr == ""
    out = got.stdout
    assert re.search(r"\(Pdb\+\) p x\n40\n", out), out
    assert re.search(r"\(Pdb\+\) n\n(.*\n)*?-> x \+= 1", out), out
    assert re.search(r"\(Pdb\+\) p x \+ 100\n140\n", out), out
    assert re.search(r"attached to root/w1 (.*\n)*?.*\(Pdb\+\) p x\n41\n", out), out
    assert "[devx attach] tree 'root'" in out
    assert tree.wait() == 0
    assert "results [41, 42]" in tree.output()[0]


def test_a_piped_attach_writes_a_plain_transcript(proc_tree, rt):
    """A tree with colours on (no NO_COLOR): a client whose stdout is no terminal gets
    the REPL's text without its colour and cursor sequences (the transcript read
    `[^[[33;01m0^[[00m]^[[97;44;1m >` and `^[[F(Pdb+) c`)."""
    tree = start_tree(proc_tree, rt, "1", NO_COLOR="")
    tree_says(tree, "waiting for `devx attach`")
    got = attach_piped(rt, "p x\nn\nl\nc\n")
    assert got.returncode == 0, got.stdout + got.stderr
    out = got.stdout
    assert "\x1b" not in out, repr(out)
    assert "(Pdb+) p x\n40\n" in out, out
    assert re.search(
        r"\(Pdb\+\) n\n+\[0\] > \S+attach_tree\.py\(25\)work\(\)\n-> x \+= 1\n", out
    ), out
    assert re.search(r"\n 25  ->\s+x \+= 1\n", out), out  # `l`, its arrow on the line
    assert tree.wait() == 0


def test_the_end_of_piped_input_is_ctrl_d_at_the_next_prompt(proc_tree, rt):
    """A script shorter than the session: its end quits at the next prompt, as
    ctrl-d there would (pdb reading a pipe does the same); the client says so and
    ends cleanly (it raised ``ConnectionResetError`` sending the end to a REPL that
    had gone)."""
    tree = start_tree(proc_tree, rt, "2")
    tree_says(tree, "waiting for `devx attach`")
    got = attach_piped(rt, "p x\n")
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stderr == ""
    assert "(Pdb+) p x\n40\n(Pdb+) \n" in got.stdout
    # the client says the tree stops on that quit (it said it waited for a next REPL)
    assert "[devx attach] you quit: the tree stops, no REPL of it opens now\n" in got.stdout
    assert "waiting for the next REPL" not in got.stdout
    assert "[devx attach] tree 'root'" in got.stdout
    tree.wait()
    assert "devx: quit from the REPL in actor 'root/w0'" in "".join(tree.output())


def _attached_blocked_step(proc_tree, rt, go):
    """door_blocked_step.py in attach mode: the client steps (`n`) the root over sync
    code that blocks its loop until ``go`` exists; a child waits for the terminal."""
    tree = proc_tree(
        EXAMPLES / "debugging" / "door_blocked_step.py",
        str(go),
        DEVX_RUNTIME_DIR=str(rt),
        NO_COLOR="1",
        DEVX_ATTACH="1",
    )
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(r">>> devx PAUSE in actor 'root' \(path root, pid \d+\)")
    c.prompt()
    assert "-> block_until(go)" in c.cmd("n")
    c.child.sendline("n")  # no prompt comes back while the loop is blocked
    tree_says(tree, "root blocks its loop")
    return tree, c


def test_ctrl_c_at_an_attached_repl_running_a_step(proc_tree, rt, tmp_path):
    """ctrl-c in the client while the REPL runs a step is what it is on a terminal:
    said at once, and nothing later (it waited in the socket and came out at the next
    prompt as "ctrl-c shielded", once per press)."""
    go = tmp_path / "go"
    tree, c = _attached_blocked_step(proc_tree, rt, go)
    c.child.sendintr()
    c.expect_exact("[devx attach] ctrl-c: no prompt is on screen (root runs a step)")
    tree_says(tree, "[devx] ctrl-c: no prompt is on screen; the terminal is held by root")
    go.touch()
    out = c.prompt()  # the step ends at its line
    assert 'print("root unblocked"' in out
    c.child.sendline("p 1 + 1")
    c.expect_exact("2")
    c.prompt()
    c.child.sendline("c")
    c.expect(r">>> devx PAUSE in actor 'waiter'")
    c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert "ctrl-c shielded" not in c.log.getvalue()
    assert tree.wait() == 0


def test_three_ctrl_c_at_an_attached_repl_running_a_step_end_the_tree(proc_tree, rt, tmp_path):
    go = tmp_path / "go"
    tree, c = _attached_blocked_step(proc_tree, rt, go)
    for _ in range(3):
        c.child.sendintr()
        c.expect_exact("[devx attach] ctrl-c: no prompt is on screen")
        # counted by the REPL's process before the next press: SIGINTs that arrive
        # before its handler ran are one call (Python's signal handling), as on a
        # terminal, where the same test waits for the same line
        tree_says(tree, "[devx] ctrl-c: no prompt is on screen")
    go.touch()  # trio delivers the interrupt once the blocking call returns
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() != 0
    assert "KeyboardInterrupt" in "".join(tree.output())
    assert "ctrl-c shielded" not in c.log.getvalue()


def test_ctrl_backslash_while_a_step_runs_detaches_at_once(proc_tree, rt, tmp_path):
    """ctrl-\\ while the attached REPL runs a step (no prompt: an `n` over code that
    blocks): the client leaves at once and the REPL's stop waits for the next client.
    The client waited for the REPL to read its Detach, which it does only once the
    step is over: a step that blocks for long (a slow call, a hang being debugged)
    kept the person's terminal, ctrl-\\ seemingly ignored."""
    go = tmp_path / "go"
    tree, c = _attached_blocked_step(proc_tree, rt, go)
    c.child.sendcontrol("\\")
    c.expect_exact("[devx attach] detached")  # while the step still blocks
    assert c.finish() == 0
    go.touch()  # the step ends at its stop, which waits for the next client
    tree_says(tree, "root: the client detached; the REPL waits for `devx attach` again")
    again = client(rt)
    again.expect(r">>> devx PAUSE in actor 'root' \(path root, pid \d+\)")
    again.prompt()
    again.child.sendline("c")
    again.expect(r">>> devx PAUSE in actor 'waiter'")
    again.prompt()
    again.child.sendline("c")
    again.expect_exact("[devx attach] tree 'root'")
    assert again.finish() == 0
    assert tree.wait() == 0


def test_attach_to_a_crash(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1", "crash")
    # where it stopped, as a pause's line (and `devx ps`) says it, then the error
    # (the line said `crash at ZeroDivisionError: ...`)
    line = tree_says(tree, "waiting for `devx attach`")
    assert re.search(
        r"\[devx\] root/w0: crash at attach_tree\.py:\d+ in boom\(\) \(ZeroDivisionError: "
        r"integer division or modulo by zero\): waiting for `devx attach`",
        line,
    ), line
    c = client(rt)
    c.expect(r">>> devx CRASH in actor 'w0' \(path root/w0, pid \d+\): ZeroDivisionError")
    c.expect_exact("ZeroDivisionError: integer division or modulo by zero")
    assert "-> return x // 0" in c.prompt()
    assert c.cmd("p x").strip().splitlines()[-1] == "40"
    c.child.sendline("c")
    # the root's post-mortem on the boxed error is the next REPL of the tree
    c.expect(r">>> devx CRASH in actor 'root' \(path root, pid \d+\): RemoteActorError")
    c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 1


@pytest.mark.parametrize("key", ["n", "s", "until", "r"])
def test_a_step_in_an_attached_post_mortem_hands_the_client_on(proc_tree, rt, key):
    """A step (`n`, `s`, `until`, `r`) at a crash's post-mortem REPL ends it when
    there is no user frame to go on to, as on a terminal; the client was told only by
    a pdb exit (`c`, `q`), so it waited on that REPL for good (its actor alive), while
    the next one (the other child's crash) waited for `devx attach`."""
    tree = start_tree(proc_tree, rt, "2", "crash")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    for _ in range(2):  # each child's crash, in whichever order they asked
        c.expect(r">>> devx CRASH in actor 'w\d' \(path root/w\d, pid \d+\): ZeroDivisionError")
        c.prompt()
        c.child.sendline(key)
    # then the root's post-mortem on the boxed errors
    c.expect(r">>> devx CRASH in actor 'root' \(path root, pid \d+\)")
    c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 1


def test_a_holder_killed_at_its_prompt_under_a_client(proc_tree, rt):
    """The attached REPL's actor is SIGKILLed at its prompt: the client says so on a
    line of its own (it came after the prompt, `(Pdb+) [devx attach] ...`), the tree
    says who went away holding the terminal, and the client takes the next REPL."""
    tree = start_tree(proc_tree, rt, "2")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    m = c.expect(BANNER)
    name, pid = m.group(1), int(m.group(2))
    c.prompt()  # on the client's screen: the kill comes under it
    os.kill(pid, signal.SIGKILL)
    c.expect(r"\r\n\[devx attach\] the REPL went away")
    assert f"{PROMPT}[devx attach]" not in c.log.getvalue()
    tree_says(tree, f"[devx] root/{name} (pid {pid}) went away holding the terminal (pause)")
    other = c.expect(BANNER).group(1)
    assert other != name
    c.prompt()
    c.child.sendline("q")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0


def test_a_sigterm_to_the_root_under_a_client_is_not_a_holder_gone(proc_tree, rt):
    """SIGTERM to the root (a CI job's kill) while a client is at the prompt: the tree
    ends, the REPL with it after the grace; the root does not say the holder "went
    away holding the terminal" when its own teardown cut the hold (the holder was
    still at its prompt: that line came at once, ahead of the SIGTERM/SIGKILL ones)."""
    tree = start_tree(proc_tree, rt, "1", DEVX_CANCEL_GRACE="1")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(BANNER)
    c.prompt()
    os.kill(tree.pid, signal.SIGTERM)
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    tree.wait()
    out = "".join(tree.output())
    assert "root/w0" in out and "went away holding the terminal" not in out, out


@pytest.mark.parametrize("waiting", ["queued", "alone"])
def test_a_sigterm_to_a_tree_nobody_is_attached_to_ends_its_waits_at_once(proc_tree, rt, waiting):
    """`docker stop`, systemd, a CI's kill: SIGTERM to the root of a service whose
    worker's REPL waits for `devx attach` with nobody attached. As for a SIGINT, no
    person is at a REPL: the waits end at once (`no REPL`) and every actor exits
    cleanly, the root dying of the signal. It was the graceful cancel, then the
    escalation against the waiting actor, its loop blocked in the wait: SIGTERMed
    after DEVX_CANCEL_GRACE, SIGKILLed 2 s later (its telemetry lost), with only the
    runtime's "still running ... SIGTERM" / "still running 2s after SIGTERM: SIGKILL" lines."""
    tree = start_tree(proc_tree, rt, "2" if waiting == "queued" else "1", DEVX_LOG_FORMAT="console")
    tree_says(tree, "waiting for `devx attach`")
    if waiting == "queued":  # the other worker's request is in the queue behind it

        def queued() -> bool:
            ps = subprocess.run(
                [sys.executable, "-m", "devx", "ps"],
                env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
                capture_output=True,
                text=True,
                timeout=scaled(20),
            )
            return "terminal of tree" in ps.stdout and "nobody waits" not in ps.stdout

        wait_until(queued, scaled(20), "the second worker's request in the queue")
    os.kill(tree.pid, signal.SIGTERM)
    said = tree_says(tree, "[devx] root: SIGTERM while ")
    assert "waited for `devx attach` with nobody attached: the tree ends, no REPL opens" in said
    assert tree.wait() == -signal.SIGTERM
    out, err = tree.output()
    assert "the tree ends with nobody attached: no REPL" in out, out + err
    assert "still running" not in err and "SIGKILL" not in err, err


def test_what_pdb_reads_itself_is_the_clients(proc_tree, rt):
    """pdb's commands that read with input() (`interact`'s console, `clear`'s
    confirmation) or write to sys.stdout/stderr read and write the REPL's process's
    own: under attach, the tree's stdin (/dev/null: `interact` ended at once, `clear`
    answered itself "no") and its log (the console's banner and `>>>` prompts, the
    question), with nothing on the client but the next `(Pdb+)`. They are the
    client's while a command runs, as pdb makes them its own for `!` statements."""
    tree = start_tree(proc_tree, rt, "1")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(BANNER)
    c.prompt()
    c.child.sendline("interact")
    c.expect(r"\*(interactive|pdb interact start)\*")
    c.expect_exact(">>> ")
    c.child.sendline("x * 2")
    c.expect_exact("80")
    c.expect_exact(">>> ")
    c.child.sendline("print('from', 'the console')")
    c.expect_exact("from the console")
    c.expect_exact(">>> ")
    c.child.sendeof()  # leaves the console, not the REPL
    c.prompt()
    c.cmd("b 25")
    c.child.sendline("clear")
    c.expect_exact("Clear all breaks? ")
    c.child.sendline("y")
    c.expect(r"Deleted breakpoint 1 at \S*attach_tree\.py:25")
    c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    out, err = tree.output()
    for text in (">>>", "interact", "Clear all breaks"):
        assert text not in out + err, out + err


def test_trees_told_apart_by_their_command(proc_tree, rt):
    """Two unnamed trees wait (both `root`): the client lists each with its command
    line (it said `root (pid A), root (pid B)`), takes a pattern of the command line
    as `devx dump` does (`attach_tree.py` was refused though it named the program),
    and a target that matches nothing lists the trees that wait."""
    pause = start_tree(proc_tree, rt, "1")
    crash = start_tree(proc_tree, rt, "1", "crash")
    tree_says(pause, "waiting for `devx attach`")
    tree_says(crash, "waiting for `devx attach`")
    both = attach_once(rt)
    assert both.returncode == 1, both.stderr
    assert "2 trees wait: " in both.stderr and "name one by its pid" in both.stderr
    assert f"root (pid {pause.pid}): " in both.stderr, both.stderr
    assert re.search(rf"root \(pid {crash.pid}\): \S+ \S+attach_tree\.py 1 crash", both.stderr)
    none = attach_once(rt, "no_such_program")
    assert none.returncode == 1 and "matching 'no_such_program'" in none.stderr, none.stderr
    assert f"waiting: root (pid {pause.pid})" in none.stderr, none.stderr
    got = attach_piped(rt, "c\nc\n", "attach_tree.py 1 crash")
    assert got.returncode == 0, got.stdout + got.stderr
    assert re.search(r">>> devx CRASH in actor 'w0'", got.stdout), got.stdout
    assert crash.wait() == 1


def test_a_sigkilled_roots_attach_files_go_with_its_tree_file(proc_tree, rt):
    """A root SIGKILLed while a REPL waits for `devx attach` leaves its attach key and
    socket; `devx ps`, which removes the dead root's tree file, removes them too (they
    stayed for good: 14 of them in one day's runtime directory)."""
    tree = start_tree(proc_tree, rt, "1")
    tree_says(tree, "waiting for `devx attach`")
    left = sorted(p.name for p in rt.glob("attach-*"))
    assert [n.rsplit(".", 1)[1] for n in left] == ["key", "sock"], left
    os.kill(tree.pid, signal.SIGKILL)
    tree.proc.wait(scaled(30))
    ps = subprocess.run(
        [sys.executable, "-m", "devx", "ps"],
        env={**os.environ, "DEVX_RUNTIME_DIR": str(rt)},
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert "no devx tree of yours is running" in ps.stderr, ps.stdout + ps.stderr
    assert not list(rt.glob("tree-*")) and not list(rt.glob("attach-*")), list(rt.iterdir())


# stdlib only: it runs as another uid, under any Python that uid can execute (the
# venv's may live where it cannot go); prints what stopped it, or the reply frame
OTHER_UID_CLIENT = r"""
import os, socket, struct, sys
sock_path, key_path = sys.argv[1], sys.argv[2]
try:
    with open(key_path) as f:
        print("key: read")
except PermissionError:
    print("key: EACCES")
step = "chdir"
try:
    os.chdir(os.path.dirname(sock_path))  # (a path may be longer than sun_path allows)
    step = "connect"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(os.path.basename(sock_path))
except PermissionError:
    print(f"EACCES at {step}")
    sys.exit(0)
def exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SystemExit("closed")
        buf += chunk
    return buf
(n,) = struct.unpack(">I", exact(4))
print("reply " + exact(n).hex())
"""

OTHER_UID = 65534  # nobody


def as_other_uid() -> None:
    os.setgroups([])
    os.setgid(OTHER_UID)
    os.setuid(OTHER_UID)


def other_uid_python() -> str:
    """A Python interpreter the other uid can run (its stdlib is all the client
    needs); skips naming every candidate and why when there is none."""
    candidates = [
        os.path.realpath(sys.executable),
        os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable),
        shutil.which("python3") or "",
        "/usr/bin/python3",
        "/usr/local/bin/python3",
    ]
    tried: list[str] = []
    for exe in dict.fromkeys(c for c in candidates if c):
        try:
            subprocess.run(
                [exe, "-I", "-c", "import socket, struct"],
                preexec_fn=as_other_uid,
                cwd="/",
                check=True,
                capture_output=True,
                timeout=scaled(20),
            )
            return exe
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{exe}: {exc}")
    pytest.skip(f"no Python interpreter runnable as uid {OTHER_UID}: " + "; ".join(tried))


@pytest.fixture
def open_rt() -> Iterator[Path]:
    """A private runtime directory (0700) whose parents another uid may pass through
    (the session's temporary directory is itself private), removed afterwards."""
    parents = Path(REAL_TMP).resolve()
    shut = [p for p in (parents, *parents.parents) if not p.stat().st_mode & 0o001]
    if shut:
        pytest.skip(f"{shut[0]} is not searchable by other users: no place for the test")
    path = Path(tempfile.mkdtemp(prefix="devx-attach-uid-", dir=parents))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_another_uid_is_refused(proc_tree, open_rt):
    from devx.debug import attach_protocol as proto

    python = other_uid_python()
    rt = open_rt
    tree = start_tree(proc_tree, rt, "1", DEVX_ATTACH_TIMEOUT=str(scaled(60)))
    tree_says(tree, "waiting for `devx attach`")
    (sock_path,) = rt.glob("attach-*.sock")
    key_path = sock_path.with_suffix(".key")

    def knock() -> list[str]:
        got = subprocess.run(
            [python, "-I", "-c", OTHER_UID_CLIENT, str(sock_path), str(key_path)],
            preexec_fn=as_other_uid,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=scaled(20),
        )
        assert got.returncode == 0, got.stdout + got.stderr
        return got.stdout.splitlines()

    # the private runtime directory (0700) stops another uid before the socket
    assert rt.stat().st_mode & 0o777 == 0o700
    assert knock() == ["key: EACCES", "EACCES at chdir"]

    # the socket's own check (SO_PEERCRED): a directory someone opened to others, and
    # the socket file too; the secret stays unreadable (0600) and the uid is refused
    rt.chmod(0o711)
    sock_path.chmod(0o666)
    try:
        said = knock()
    finally:
        sock_path.chmod(0o600)
        rt.chmod(0o700)
    assert said[0] == "key: EACCES", said
    assert said[1].startswith("reply "), said
    reply = msgspec.msgpack.decode(bytes.fromhex(said[1][6:]), type=proto.Msg)
    assert reply == proto.Refused(why="not the tree's user")
    tree_says(tree, f"root/w0: refused a `devx attach` connection from uid {OTHER_UID}")

    # the REPL still waits for its own user
    c = client(rt)
    c.expect(BANNER)
    assert "-> await devx.pause()" in c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0


def test_attach_to_a_threads_pause_from_sync(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1", "thread")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(r">>> devx THREAD in actor 'w0' \(path root/w0, pid \d+\): thread 'worker-0'")
    assert "-> devx.pause_from_sync()" in c.prompt()
    assert c.cmd("p x").strip().splitlines()[-1] == "40"
    assert "-> x += 1" in c.cmd("n")
    assert "-> out.append(x)" in c.cmd("n")
    assert c.cmd("p x").strip().splitlines()[-1] == "41"
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    assert "results [41]" in tree.output()[0]


@pytest.mark.parametrize("mode", ["bp", "bp-thread"])
def test_attach_to_a_breakpoint_hit_by_another_task(proc_tree, rt, mode):
    tree = start_tree(proc_tree, rt, "1", mode)
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(BANNER)
    assert "-> await devx.pause()" in c.prompt()
    assert "Breakpoint 1 at" in c.cmd("b hit_me")
    c.child.sendline("c")
    # the other task reaches the breakpoint: its stop waits for a client as a pause
    # does, and this client takes it as the next REPL of the tree
    for k in (1, 2):
        c.expect(r"\[devx attach\] attached to root/w0")
        c.expect(r">>> devx BREAKPOINT in actor 'w0' \(path root/w0, pid \d+\)")
        out = c.prompt()
        assert "-> doubled = k * 2" in out
        assert ("thread 'hitter'" in out) == (mode == "bp-thread")
        assert c.cmd("p k").strip().splitlines()[-1] == str(k)
        assert "-> return doubled" in c.cmd("n")
        assert c.cmd("p doubled").strip().splitlines()[-1] == str(2 * k)
        c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    assert "results [6]" in tree.output()[0]


def test_attach_a_step_that_gives_the_terminal_up(proc_tree, rt):
    """examples/debugging/door_step_wait.py in attach mode: the callee's `n` waits on
    the caller, which pauses: the step gives the terminal up, the client takes the
    caller's REPL, then the step's own stop (through the one door), in one session."""
    tree = proc_tree(
        EXAMPLES / "debugging" / "door_step_wait.py",
        DEVX_RUNTIME_DIR=str(rt),
        DEVX_ATTACH="1",
        NO_COLOR="1",
    )
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(r">>> devx PAUSE in actor 'echo' \(path root/echo, pid \d+\)")
    c.prompt()
    assert "-> await stream.send(msg + 1)" in c.cmd("n")
    assert "-> async for msg in stream:" in c.cmd("n")
    c.child.sendline("n")  # waits for the caller's next message: the caller pauses
    c.expect_exact("root/echo: the step runs on with no prompt")
    c.expect(r">>> devx PAUSE in actor 'root' \(path root, pid \d+\)")
    assert "-> await devx.pause()" in c.prompt()
    assert c.cmd("p got").strip().splitlines()[-1] == "2"
    assert "-> await stream.send(got)" in c.cmd("n")
    c.child.sendline("c")
    c.expect(r">>> devx STEP in actor 'echo' \(path root/echo, pid \d+\)")
    assert "-> await devx.pause()" in c.prompt()
    assert c.cmd("p msg").strip().splitlines()[-1] == "2"
    assert "-> await stream.send(msg + 1)" in c.cmd("n")
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    out = tree.output()[0]
    assert "caller got 2 then 3" in out and "context result: echo done" in out


def test_switch_in_an_attached_repl(proc_tree, rt, tmp_path):
    """`switch N` through `devx attach` (as test_switch.py on a terminal): three
    children stopped; the client follows the terminal to the third, then comes back
    to the first at the same line, its locals intact; the one in between keeps its
    turn."""
    from devx.telemetry.readback import load_logs, load_spans

    trace = tmp_path / "t.jsonl"
    tree = start_tree(proc_tree, rt, "3", DEVX_TELEMETRY_FILE=str(trace))
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    first = c.expect(BANNER).group(1)
    c.prompt()
    seen: dict[str, str] = {}

    def both_waiting() -> bool:
        seen["out"] = c.cmd("waiters")
        return len(re.findall(r"\d\. root/w\d: pause at attach_tree\.py", seen["out"])) == 2

    wait_until(both_waiting, scaled(20), "both other children in the queue")
    queue = re.findall(r"\d\. root/(w\d): pause at", seen["out"])
    mine = c.cmd("p x").strip().splitlines()[-1]
    assert mine == str(40 + int(first[1]))

    c.child.sendline("switch 2")  # the third in line, by its number in `waiters`
    c.expect_exact(f"[devx] the terminal goes to root/{queue[1]}: pause at attach_tree.py")
    c.expect(rf"\[devx attach\] attached to root/{queue[1]}")
    assert c.expect(BANNER).group(1) == queue[1]
    c.prompt()
    c.child.sendintr()  # ctrl-c goes to the REPL the client serves now: shielded
    c.expect_exact(f"ctrl-c shielded: root/{queue[1]} is in the REPL")
    c.prompt()
    assert c.cmd("p x").strip().splitlines()[-1] == str(40 + int(queue[1][1]))
    out = c.cmd("waiters")  # the switcher is next, then the one that was second
    assert re.findall(r"\d\. root/(w\d): pause at", out) == [first, queue[0]], out
    assert "-> x += 1" in c.cmd("n")
    c.child.sendline("c")

    # back to the first: its banner again, the same line, its locals intact
    c.expect(rf"\[devx attach\] attached to root/{first}")
    assert c.expect(BANNER).group(1) == first
    c.expect_exact(f"(back from the switch to root/{queue[1]})")
    assert "-> await devx.pause()" in c.prompt()
    assert c.cmd("p x").strip().splitlines()[-1] == mine
    assert "-> x += 1" in c.cmd("n")
    assert c.cmd("p x").strip().splitlines()[-1] == mine
    c.child.sendline("c")

    assert c.expect(BANNER).group(1) == queue[0]
    c.prompt()
    c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    assert "results [41, 42, 43]" in tree.output()[0]
    released = [
        rec["attributes"]
        for rec in load_logs(trace)
        if rec.get("event_name") == schema.LOCK_RELEASED
    ]
    assert [a[schema.HOLDER_PATH] for a in released] == [
        f"root/{first}",
        f"root/{queue[1]}",
        f"root/{first}",
        f"root/{queue[0]}",
    ]
    assert released[0][schema.RELEASE_HOW] == "switched"
    assert released[0][schema.SWITCHED_TO] == f"root/{queue[1]}"
    # every hold, the one back from the switch too, records the client that served it
    holds = [s["attributes"] for s in load_spans(trace) if s["name"] == schema.LOCK_HELD_SPAN]
    assert len(holds) == 4
    assert {h.get(schema.ATTACH_CLIENT_PID) for h in holds} == {c.child.pid}


@pytest.mark.parametrize("key", ["c", "\\"])
def test_leave_while_no_repl_waits(proc_tree, rt, key):
    """A client of a tree in attach mode with no REPL waiting says so and waits; ctrl-c
    or ctrl-\\ leaves it (both were swallowed: it waited for a REPL that might never
    come), and the tree goes on."""
    tree = proc_tree(
        EXAMPLES / "debugging" / "idle_tree.py", DEVX_RUNTIME_DIR=str(rt), DEVX_ATTACH="1"
    )
    tree_says(tree, "tree is up")
    c = client(rt)
    c.expect(rf"\[devx attach\] no REPL of tree 'root' \(pid {tree.pid}\) waits yet")
    c.expect_exact("(ctrl-c or ctrl-\\ leaves)")
    c.child.sendcontrol(key)
    c.expect_exact("[devx attach] left; the tree goes on")
    assert c.finish() == 0
    assert tree.proc.poll() is None


def test_a_breakpoint_stop_nobody_attaches_to_is_skipped_at_the_deadline(proc_tree, rt):
    """DEVX_ATTACH_TIMEOUT holds for stops through the one door as for a pause: a
    breakpoint stop whose client detached ends as with `c` past it, the next one is
    skipped at once (the tree waited its timeout with nobody attached: the bound is
    the tree's), and the actor goes on."""
    deadline = scaled(2)
    tree = start_tree(proc_tree, rt, "1", "bp", DEVX_ATTACH_TIMEOUT=str(deadline))
    # the client starts as soon as the tree is listed, so that it is there (waiting
    # for a REPL) before the first pause's deadline runs
    wait_until(lambda: list(rt.glob("tty-*.json")), scaled(20), "the tree's lock file")
    c = client(rt)
    c.expect(BANNER, timeout=scaled(20))
    c.prompt()
    assert "Breakpoint 1 at" in c.cmd("b hit_me")
    c.child.sendline("c")
    c.expect(r">>> devx BREAKPOINT in actor 'w0'")
    assert "-> doubled = k * 2" in c.prompt()
    c.child.sendcontrol("\\")  # detach: the stop waits for a client again, in vain
    c.expect_exact("[devx attach] detached")
    assert c.finish() == 0
    tree_says(tree, "root/w0: no client attached again: the REPL ends as with 'c'")
    said = tree_says(tree, "root/w0: breakpoint at attach_tree.py")
    assert f"no REPL, continuing: the tree's REPLs waited {deadline:g} s" in said, said
    tree_says(tree, "stdin is not a terminal: no REPL, continuing")
    assert tree.wait() == 0
    assert "results [6]" in tree.output()[0]


def test_nested_switches_in_an_attached_repl(proc_tree, rt):
    """A switches to C, C switches to B: the client follows, and comes back in stack
    order (C, then A), each at its line with its locals."""
    tree = start_tree(proc_tree, rt, "3")
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    a = c.expect(BANNER).group(1)
    c.prompt()
    seen: dict[str, str] = {}

    def both_waiting() -> bool:
        seen["out"] = c.cmd("waiters")
        return len(re.findall(r"\d\. root/w\d: pause at attach_tree\.py", seen["out"])) == 2

    wait_until(both_waiting, scaled(20), "both other children in the queue")
    b, cc = re.findall(r"\d\. root/(w\d): pause at", seen["out"])
    c.child.sendline(f"switch root/{cc}")
    assert c.expect(BANNER).group(1) == cc
    c.prompt()
    c.child.sendline(f"switch {b}")  # by the last part of its path
    assert c.expect(BANNER).group(1) == b
    c.prompt()
    assert c.cmd("p x").strip().splitlines()[-1] == str(40 + int(b[1]))
    c.child.sendline("c")
    for name, to in ((cc, b), (a, cc)):
        assert c.expect(BANNER).group(1) == name
        c.expect_exact(f"(back from the switch to root/{to})")
        assert "-> await devx.pause()" in c.prompt()
        assert c.cmd("p x").strip().splitlines()[-1] == str(40 + int(name[1]))
        c.child.sendline("c")
    c.expect_exact("[devx attach] tree 'root'")
    assert c.finish() == 0
    assert tree.wait() == 0
    assert "results [41, 42, 43]" in tree.output()[0]


@pytest.mark.parametrize("who", ["child", "root"])
def test_ps_and_a_banner_again_name_where_the_repl_stands_now(proc_tree, rt, tmp_path, who):
    """`n` moves a REPL: `devx ps` (attached, then detached) and the banner of a client
    attaching again named the line it first stopped at (trial7); they name the line
    it stands on now, in a child's REPL (its loop blocked: told over the root's report
    socket) and in the root's own (its loop blocked: written by a helper thread). The
    REPL span's end says where it was left, after how many stop lines."""
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    if who == "child":
        script, path, fn = TREE, "root/w0", "work"
        tree = start_tree(proc_tree, rt, "1", DEVX_TELEMETRY_FILE=str(trace))
        banner = BANNER
    else:
        script, path, fn = Path(__file__).parent / "scripts" / "root_pause_first.py", "root", "main"
        tree = proc_tree(
            script,
            DEVX_RUNTIME_DIR=str(rt),
            NO_COLOR="1",
            DEVX_ATTACH="1",
            DEVX_TELEMETRY_FILE=str(trace),
        )
        banner = r">>> devx PAUSE in actor 'root' \(path root, pid \d+\)"
    src = script.read_text().splitlines()
    first = 1 + next(i for i, t in enumerate(src) if "await devx.pause()" in t)
    at = f"{script.name}:{first + 1} in {fn}()"  # the line after the pause
    tree_says(tree, "waiting for `devx attach`")
    c = client(rt)
    c.expect(banner)
    c.prompt()
    c.cmd("n")
    said = f": {path}: pause at {at} (for "
    shown = wait_until(
        lambda: next((ln for ln in devx_ps(rt).splitlines() if said in ln), ""),
        scaled(10),
        "devx ps naming the line the REPL stands on now",
    )
    assert "attached (`devx attach` pid" in shown, shown
    c.child.sendcontrol("\\")
    c.expect_exact("[devx attach] detached")
    assert c.finish() == 0
    tree_says(tree, f"{path}: the client detached")
    assert f"waiting for `devx attach`: {path}: pause at {at}" in devx_ps(rt)
    again = client(rt)
    again.expect(banner)
    shown = again.prompt()
    assert at in shown and f"{script.name}:{first} " not in shown, shown
    again.child.sendline("c")
    again.expect_exact("[devx attach] tree 'root'")
    assert again.finish() == 0
    assert tree.wait() == 0
    repl = [s["attributes"] for s in load_spans(trace) if s["name"] == schema.REPL_SPAN]
    assert [(a.get(schema.REPL_LEFT_AT), a.get(schema.REPL_STOPS)) for a in repl] == [(at, 2)]


def test_a_clients_banners_fit_its_terminal(proc_tree, rt):
    """The REPL lays its banners and lines out for the client's terminal, whose width
    the client sends in its hello: they were laid out for 100 columns, and a
    60-column terminal broke them mid-word. A narrow client gets them broken at
    spaces within its width (the location on a line of its own), a wide one whole."""
    tree = start_tree(proc_tree, rt, "2")
    tree_says(tree, "waiting for `devx attach`")
    narrow = Repl("attach", module="devx", DEVX_RUNTIME_DIR=str(rt), dimensions=(24, 60))
    try:
        narrow.expect(BANNER)
        narrow.prompt()
        narrow.cmd("waiters")
        text = narrow.log.getvalue()
        assert "\n    at attach_tree.py:" in text.replace("\r", ""), text
        assert_fits(text, 60)
        narrow.child.sendcontrol("\\")
        narrow.expect_exact("[devx attach] detached")
        assert narrow.finish() == 0
    finally:
        narrow.close()
    wide = Repl("attach", module="devx", DEVX_RUNTIME_DIR=str(rt), dimensions=(24, 200))
    try:
        wide.expect(BANNER + r": attach_tree\.py:\d+ in work\(\)\r?\n")  # one line
        wide.prompt()
        wide.child.sendline("c")
        wide.expect(BANNER)  # the next REPL (w1's)
        wide.prompt()
        wide.child.sendline("c")
        wide.expect_exact("[devx attach] tree 'root'")
        assert wide.finish() == 0
    finally:
        wide.close()
    assert tree.wait() == 0


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
def test_the_repls_own_output_reaches_the_client_as_written(proc_tree, rt, colour):
    """What pdb writes (a value `p` prints, the stop line pdbp colours) reaches the
    client's terminal byte for byte: only devx's own lines are laid out in its width.
    The client fitted everything it got to its terminal's width: a long value came
    back broken at its spaces, re-indented and with its runs of spaces squeezed, and
    a short stop line, its colour codes counted as width, broken in two."""
    env = {} if not colour else {"NO_COLOR": ""}
    tree = start_tree(proc_tree, rt, "1", "crash", **env)
    tree_says(tree, "waiting for `devx attach`")
    c = Repl("attach", module="devx", DEVX_RUNTIME_DIR=str(rt), dimensions=(24, 80), **env)
    try:
        before = c.prompt().replace("\r", "")
        # (colour on only in the colour case, else both ids test one thing)
        assert bool(re.search(r"\x1b\[[0-9;]*m", before)) is colour, before
        # the stop line, colour codes aside, as pdb wrote it: one line
        stop = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", before)
        assert "\n-> return x // 0\n" in stop, before
        value = "ab  " * 40 + "the end"
        out = c.cmd(f"p {value!r}").replace("\r", "")
        printed = out.split("\n", 1)[1]  # (after the echo of the line typed)
        assert printed.startswith(repr(value) + "\n"), out
        c.child.sendline("c")
        c.expect(r">>> devx CRASH in actor 'root'")  # the root's on the boxed error
        c.prompt()
        c.child.sendline("c")
        assert c.finish() == 0
    finally:
        c.close()
    tree.wait()


def test_a_value_bigger_than_a_frame_reaches_the_client_whole(proc_tree, rt):
    """`p` of a value whose text passes the attach protocol's frame (1 MiB): the REPL
    sends it in pieces, the client shows it whole and the session goes on. It was one
    frame, which the client took for a stranger's: "the REPL went away (its actor
    ended, or was killed)", the output lost, the client attached again."""
    tree = start_tree(proc_tree, rt, "1")
    tree_says(tree, "waiting for `devx attach`")
    n = 3 * 1024 * 1024
    got = attach_piped(rt, f"p 'x' * {n} + 'é' * {n // 4} + 'the end'\np x\nc\n")
    assert got.returncode == 0, got.stdout[-2000:] + got.stderr
    out = got.stdout
    assert "went away" not in out, out[-2000:]
    assert "'" + "x" * n + "é" * (n // 4) + "the end'\n" in out, out[-2000:]
    assert re.search(r"\(Pdb\+\) p x\n40\n", out), out[-2000:]
    assert tree.wait() == 0
