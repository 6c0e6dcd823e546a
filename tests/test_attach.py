"""``devx attach``: a debug tree that runs without a terminal (its own session, stdin
/dev/null: examples/debugging/attach_tree.py) keeps each REPL waiting for a client;
the client, on a real PTY, is that REPL's terminal and takes the next one after it.
A second client is refused, a killed or detached client gives the REPL back, and
``DEVX_ATTACH_TIMEOUT`` skips a REPL nobody came for."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _pty import EXAMPLES, PROMPT, Repl
from conftest import scaled
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
    return proc_tree(TREE, *args, DEVX_RUNTIME_DIR=str(rt), NO_COLOR="1", **env)


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
        c.expect_exact(f"ctrl-c shielded: root/{name} is in the REPL")
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
    last.child.sendline("c")
    last.expect_exact("[devx attach] tree 'root'")
    assert last.finish() == 0
    assert tree.wait() == 0
    assert "results [41]" in tree.output()[0]


def test_nobody_attaches_within_the_deadline(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1", DEVX_ATTACH_TIMEOUT="0.2")
    tree_says(tree, "waiting for `devx attach` (for 0.2 s)")
    tree_says(tree, "root/w0: nobody attached within 0.2 s (DEVX_ATTACH_TIMEOUT): no REPL")
    assert tree.wait() == 0
    assert "results [41]" in tree.output()[0]
    assert not list(rt.glob("attach-*.sock"))


def test_attach_without_a_waiting_tree_says_so(rt):
    got = attach_once(rt)
    assert got.returncode == 1
    assert "no tree of yours waits for `devx attach`" in got.stderr


def test_attach_to_a_crash(proc_tree, rt):
    tree = start_tree(proc_tree, rt, "1", "crash")
    tree_says(tree, "waiting for `devx attach`")
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
