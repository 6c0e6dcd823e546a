"""``devx dump``: matching, refusals, and end to end against live trees."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import devx
from conftest import scaled
from devx import cli
from devx.debug.stack import registry as reg
from test_stack_support import EXAMPLES, PY, Env, devx_cli
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(120)


def _dump_order(out: str) -> list[str]:
    """Tree paths (or names) of the dumps printed, in order."""
    return re.findall(rf"^{re.escape(reg.BEGIN_MARKER)}: (\S+) ", out, re.M)


def _start_plain_tree(env: Env, *args: str, size: int) -> dict[str, int]:
    tree = env.start([PY, str(EXAMPLES / "plain_tree.py"), f"--size={size}", *args])
    pids = {m[1]: int(m[2]) for m in tree.wait_lines(r"^READY (\S+) (\d+)$", size, scaled(20))}
    env.track(*pids.values())
    return pids


# --- refusals --------------------------------------------------------------------------


def test_nothing_matched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(tmp_path / "rt"))
    assert cli.main(["dump", "no-such-tree"]) == cli.EXIT_NO_MATCH
    err = capsys.readouterr().err
    assert "no devx actor of yours" in err and "'no-such-tree'" in err
    assert "Nothing was signalled" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert cli.main(["dump", "("]) == cli.EXIT_USAGE
    assert "bad pattern" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["dump"])


@pytest.mark.parametrize(
    "args",
    [
        ["dump", "--timeout", "-1", "x"],
        ["dump", "--timeout", "nan", "x"],
        ["dump", "--timeout", "0", "x"],
        ["timeline", "--width", "-5"],
    ],
)
def test_numbers_out_of_range_are_usage_errors(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A negative (or NaN) dump timeout signalled every matching tree, then waited
    "-1 s" and said none answered (exit 3); a negative width was taken as given."""
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(tmp_path / "rt"))  # (no tree to signal)
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {args[1]}: {args[2]!r} is no" in err, err


# a process that SIGUSR1 would kill (no handler) and that answers SIGUSR2
VICTIM = """
import signal, sys, time  # devx-victim
signal.signal(signal.SIGUSR2, lambda *_: print("USR2", flush=True))
print("READY\\n", end="", flush=True)
while True:
    time.sleep(60)
"""


def test_unregistered_process_is_never_signalled(dump_env: Env) -> None:
    """SIGUSR1 would kill a process without a handler: a pid or a pattern naming a
    process that is not a registered devx actor is refused."""
    victim = dump_env.start([PY, "-c", VICTIM], name="victim")
    victim.wait_lines(r"^READY$", 1, scaled(10))
    for target in (str(victim.pid), "devx-victim"):
        res = devx_cli(dump_env, "dump", target)
        assert res.returncode == cli.EXIT_NO_MATCH, res
        assert "no devx actor of yours" in res.stderr
    # Proof that no SIGUSR1 is on its way: the victim handles a SIGUSR2 sent now.
    # Pending standard signals are delivered lowest number first, so a SIGUSR1 sent
    # before would have killed it first.
    os.kill(victim.pid, signal.SIGUSR2)
    victim.wait_lines(r"^USR2$", 1, scaled(5))
    assert victim.proc.poll() is None


# --- end to end ------------------------------------------------------------------------


def test_dump_plain_tree_by_pattern(dump_env: Env) -> None:
    pids = _start_plain_tree(dump_env, "--shape=nested", "--block=n2", size=5)
    dump_env.trees[0].wait_lines(r"^BLOCKING", 1, scaled(10))
    res = devx_cli(dump_env, "dump", "plain_tree", "--timeout", str(scaled(4)))
    assert res.returncode == 0, res.stderr
    assert _dump_order(res.stdout) == sorted(pids)  # merged, ordered by tree path
    assert "5/5 dumps" in res.stderr
    # once in each actor's task tree (the summary lines above it repeat it)
    assert len(re.findall(r"^\s*task 'hang_forever' at ", res.stdout, re.M)) == 4
    assert "thread stacks (fallback)" in res.stdout  # n2 blocks its loop
    for path, pid in pids.items():
        assert f"path={path} pid={pid}" in res.stdout
    # the summary leads: the task blocking its loop first, then the other user tasks
    head, _, _rest = res.stdout.partition(reg.BEGIN_MARKER)
    lines = head.strip().splitlines()
    assert lines[0].startswith("-- brief: every actor")
    assert re.match(r"^root/n2  task 'block_loop' at \S+plain_tree.py:\d+ in block_loop", lines[1])


def test_dump_brief_one_line_per_task(dump_env: Env) -> None:
    pids = _start_plain_tree(dump_env, "--shape=nested", "--block=n2", size=5)
    dump_env.trees[0].wait_lines(r"^BLOCKING", 1, scaled(10))
    res = devx_cli(dump_env, "dump", "plain_tree", "--brief", "--timeout", str(scaled(4)))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert reg.BEGIN_MARKER not in res.stdout and "Thread " not in res.stdout
    # the hanging function first: the sync call that blocks n2's loop
    assert re.fullmatch(
        r"root/n2  task 'block_loop' at \S*plain_tree\.py:\d+ in block_loop \(blocks the loop\)",
        lines[0],
    ), lines
    hang = [x for x in lines if "task 'hang_forever' at " in x]
    assert sorted(x.split()[0] for x in hang) == sorted(p for p in pids if p != "root/n2")
    assert all(re.search(r"plain_tree\.py:\d+ in hang_forever$", x) for x in hang), hang
    # devx's and trio's own tasks: one folded line per actor, after every user line
    runtime = [i for i, x in enumerate(lines) if "  [runtime] " in x]
    assert runtime and min(runtime) > max(lines.index(x) for x in hang)
    assert len({lines[i].split()[0] for i in runtime}) == len(pids)


def test_dump_child_pid_gives_its_subtree(dump_env: Env) -> None:
    pids = _start_plain_tree(dump_env, "--shape=nested", size=5)
    res = devx_cli(dump_env, "dump", str(pids["root/n1"]), "--timeout", str(scaled(4)))
    assert res.returncode == 0, res.stderr
    assert _dump_order(res.stdout) == ["root/n1", "root/n1/n3", "root/n1/n4"]


def test_unresponsive_actor_times_out_with_partial_output(dump_env: Env) -> None:
    pids = _start_plain_tree(dump_env, "--shape=flat", size=3)
    os.kill(pids["root/n1"], signal.SIGSTOP)  # a stopped process cannot run its handler
    try:
        # long enough for the others' dumps, on a busy machine too
        res = devx_cli(dump_env, "dump", "plain_tree", "--timeout", str(scaled(1)))
    finally:
        os.kill(pids["root/n1"], signal.SIGCONT)
    assert res.returncode == cli.EXIT_INCOMPLETE, res
    assert _dump_order(res.stdout) == ["root", "root/n2"]
    assert "2/3 dumps" in res.stderr and "no dump from root/n1" in res.stderr


def test_dump_hung_tree(dump_env: Env) -> None:
    from test_stack_tree import PATHS, start_hung_tree

    tree, _actors = start_hung_tree(dump_env)
    res = devx_cli(dump_env, "dump", "hung_tree", "--timeout", str(scaled(4)))
    assert res.returncode == 0, res.stderr
    assert _dump_order(res.stdout) == list(PATHS)
    assert f"{len(PATHS)}/{len(PATHS)} dumps" in res.stderr
    assert f"pid {tree.pid})" in res.stderr  # only the root was signalled; it relayed
    assert "in park_in_sleep_forever" in res.stdout and "time.sleep(3600)" in res.stdout
    assert tree.proc.poll() is None


# --- devx ps -----------------------------------------------------------------------


def test_ps_lists_registered_processes(dump_env: Env) -> None:
    from test_stack import PROG
    from test_stack_tree import PATHS, start_hung_tree

    empty = devx_cli(dump_env, "ps")
    assert empty.returncode == cli.EXIT_OK and empty.stdout == ""
    assert "no devx tree of yours is running" in empty.stderr

    _tree, actors = start_hung_tree(dump_env)
    prog = dump_env.tmp_path / "plain_prog.py"
    prog.write_text(PROG)
    plain = dump_env.start([PY, str(prog)], name="plain")
    plain.wait_lines(r"^READY", 1, scaled(10))

    res = devx_cli(dump_env, "ps")
    assert res.returncode == 0, res.stderr
    # the trees (tests/test_ps.py), then the processes that take dumps under a title
    sections = res.stdout.split("\n\n")
    title, header, *lines = sections[1].splitlines()
    assert title.startswith("stack dumps enabled"), res.stdout
    assert header.split() == list(cli.PS_COLUMNS)
    # aligned: every column starts where its header does (PID and AGE right-aligned)
    starts = {c: header.index(c) for c in ("ACTOR", "UID", "COMMAND")}
    for ln in lines:
        for col, at in starts.items():
            if col != "ACTOR" and len(ln) > at:  # (a child has no COMMAND)
                assert ln[at - 1] == " " and ln[at] != " ", (col, ln)
        for right in ("PID", "AGE"):  # right-aligned: the last characters line up
            end = header.index(right) + len(right)
            assert ln[end - 1] != " " and ln[end] == " ", (right, ln)
        pid, age = ln.split()[:2]
        assert re.fullmatch(r"\d+", pid) and re.fullmatch(r"\d+[smhd](\d\d[smh])?", age), ln

    def row(pid: int) -> str:
        (line,) = [ln for ln in lines if ln.split()[0] == str(pid)]
        return line

    order = [e.pid for _p, e in sorted(actors.items(), key=lambda kv: kv[1].sort_key)]
    assert [int(ln.split()[0]) for ln in lines if int(ln.split()[0]) != plain.pid] == order
    assert len(order) == len(PATHS)
    for path, e in actors.items():
        line = row(e.pid)
        actor_col = line[starts["ACTOR"] : starts["UID"]].rstrip()
        assert actor_col == "  " * path.count("/") + path, line
        assert line[starts["UID"] :].startswith(e.uid), line
        command = line[starts["COMMAND"] :] if len(line) > starts["COMMAND"] else ""
        # the root shows the command that started it (a child's is devx's own)
        assert ("hung_tree.py" in command) == e.is_root, line
    line = row(plain.pid)
    assert "(no actor runtime)" in line and line.endswith(str(prog))


def test_ps_help_and_version() -> None:
    from test_stack_support import PY as py

    for argv in (["-m", "devx", "--version"], ["-m", "devx.cli", "--version"]):
        res = subprocess.run([py, *argv], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and res.stdout.strip() == f"devx {devx.__version__}"
    for sub in ("ps", "dump", "timeline"):
        res = subprocess.run(
            [py, "-m", "devx", sub, "--help"], capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0, res.stderr
        usage, _blank, description = res.stdout.partition("\n\n")
        assert usage.startswith(f"usage: devx {sub}")
        assert len(description.split("\n\n", 1)[0].split()) >= 15, res.stdout  # says what it does
    res = subprocess.run([py, "-m", "devx"], capture_output=True, text=True, timeout=60)
    assert res.returncode == cli.EXIT_USAGE and "usage: devx" in res.stderr


def test_age_text() -> None:
    assert [cli.age_text(s) for s in (None, 0, 59.9, 60, 3599, 3600, 86399, 90000)] == [
        "?", "0s", "59s", "1m00s", "59m59s", "1h00m", "23h59m", "1d01h",
    ]  # fmt: skip
