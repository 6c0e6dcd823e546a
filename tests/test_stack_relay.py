"""The signal relay down a process tree: with no actor runtime involved (the
stand-in actors of examples/hang/plain_tree.py feed ``actor_lifetime``), and in a
forked tree whose child's pid went to another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import scaled, wait_until
from devx.debug.stack import registry as reg
from devx.runtime import forkserver
from test_stack_support import (
    EXAMPLES,
    PY,
    Env,
    complete_log,
    dump_count,
    past_coalescing_window,
    read_log,
)
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(90)


def _start(env: Env, *args: str, size: int) -> dict[str, int]:
    tree = env.start([PY, str(EXAMPLES / "plain_tree.py"), f"--size={size}", *args])
    ready = tree.wait_lines(r"^READY (\S+) (\d+)$", size, scaled(20))
    pids = {m[1]: int(m[2]) for m in ready}
    env.track(*pids.values())
    return pids


def completed(pid: int) -> int:
    return read_log(pid).count(reg.end_line(pid))


def wait_dumps(pids: dict[str, int], want: dict[str, int]) -> None:
    """Wait until each process has written (at least) its dumps in ``want``, then
    check it wrote exactly that many, each complete."""
    for path, n in want.items():
        wait_until(lambda p=pids[path], n=n: completed(p) >= n, scaled(5), f"dump {n} of {path}")
    got = {path: (dump_count(pids[path]), completed(pids[path])) for path in want}
    assert got == {path: (n, n) for path, n in want.items()}


def test_signal_to_root_dumps_every_process_and_to_a_child_its_subtree(dump_env: Env) -> None:
    # root ── n1 ── n3, n4 ; root ── n2 ; n4 blocks its loop
    pids = _start(dump_env, "--shape=nested", "--block=n4", size=5)
    tree = dump_env.trees[0]
    tree.wait_lines(r"^BLOCKING", 1, scaled(10))
    assert set(pids) == {"root", "root/n1", "root/n2", "root/n1/n3", "root/n1/n4"}

    os.kill(pids["root"], signal.SIGUSR1)
    logs = {
        path: wait_until(lambda pid=pid: complete_log(pid), scaled(5), f"the dump of {path}")
        for path, pid in pids.items()
    }
    for path, text in logs.items():
        name = path.rsplit("/", 1)[-1]
        assert f"actor:    name={name} " in text and f"path={path} pid={pids[path]}" in text
        assert "lineage:  parent=" in text
    assert (
        f"relayed:  SIGUSR1 -> 2 child(ren): {pids['root/n1']} {pids['root/n2']}" in (logs["root"])
    )
    assert "mode:     trio task tree" in logs["root/n1/n3"]
    assert "task 'hang_forever'" in logs["root/n1/n3"]
    assert "mode:     thread stacks (fallback)" in logs["root/n1/n4"]
    assert "time.sleep(3600)" in logs["root/n1/n4"]
    err = tree.stderr_with(*pids.values())
    for pid in pids.values():
        assert f"pid {pid} =====" in err  # each dump also on the (shared) stderr stream

    # a signal to one child dumps it and its subtree only
    past_coalescing_window()
    os.kill(pids["root/n1"], signal.SIGUSR1)
    wait_dumps(pids, {"root": 1, "root/n2": 1, "root/n1": 2, "root/n1/n3": 2, "root/n1/n4": 2})
    # a marker past the coalescing window, to the root: every process dumps once more.
    # Each writes its dumps in order, so a stray dump of root or n2 from the signal to
    # n1 would show up before the marker's: exact counts prove there was none.
    past_coalescing_window()
    os.kill(pids["root"], signal.SIGUSR1)
    wait_dumps(pids, {"root": 2, "root/n2": 2, "root/n1": 3, "root/n1/n3": 3, "root/n1/n4": 3})


def test_signal_burst_to_every_process_gives_one_dump_each(dump_env: Env) -> None:
    """``pkill -USR1 -f``-style: each process gets a direct signal and a relayed one."""
    pids = _start(dump_env, "--shape=flat", size=4)
    for pid in pids.values():
        os.kill(pid, signal.SIGUSR1)
    wait_dumps(pids, dict.fromkeys(pids, 1))
    # a marker past the coalescing window: one more dump each, and no other (a second
    # dump of the burst would be written before the marker's)
    past_coalescing_window()
    os.kill(pids["root"], signal.SIGUSR1)
    wait_dumps(pids, dict.fromkeys(pids, 2))


# a process that catches SIGUSR1 and says so on stdout, until its stdin closes
STRANGER = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGUSR1, lambda *a: os.write(1, b'GOT SIGUSR1\\n'))\n"
    "print('READY', flush=True)\n"
    "sys.stdin.read()\n"
)


def _stranger_with_pid(pid: int) -> subprocess.Popen[str]:
    """A STRANGER whose pid is ``pid`` (free by now): the kernel's last pid is set
    just below it (/proc/sys/kernel/ns_last_pid, root of the pid namespace only);
    retried while another process's fork takes it first."""
    for _ in range(100):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
        except OSError as exc:
            pytest.skip(f"this test chooses a pid, which needs root: {exc.strerror}")
        proc = subprocess.Popen(
            [sys.executable, "-c", STRANGER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if proc.pid == pid:
            assert proc.stdout is not None and proc.stdout.readline() == "READY\n"
            return proc
        proc.kill()
        proc.wait()
    pytest.skip(f"pid {pid} was taken by other processes 100 times in a row")


@pytest.mark.skipif(not forkserver.available(), reason="forked children need Linux")
def test_the_relay_never_signals_a_pid_a_forked_child_left(dump_env: Env, tmp_path: Path) -> None:
    """A forked child is reaped by the fork server, which tells its parent actor
    later; if the parent's loop is blocked meanwhile, the child's pid may already be
    another process's when the parent relays a SIGUSR1. The relay goes through the
    child's process object (its pidfd): the process now at that pid gets nothing."""
    fifo = tmp_path / "release"
    os.mkfifo(fifo)
    dump_env.vars["DEVX_SPAWN_METHOD"] = "forkserver"
    tree = dump_env.start(
        [PY, str(Path(__file__).parent / "scripts" / "relay_reused_pid.py"), str(fifo)]
    )
    (m,) = tree.wait_lines(r"^CHILD (\d+)$", 1, scaled(20))
    child = int(m[1])
    os.kill(child, signal.SIGKILL)  # the root's loop is blocked: it cannot hear of it
    wait_until(lambda: not os.path.exists(f"/proc/{child}"), scaled(10), "the child to be reaped")
    stranger = _stranger_with_pid(child)
    try:
        os.kill(tree.pid, signal.SIGUSR1)
        log = wait_until(lambda: complete_log(tree.pid), scaled(10), "the root's dump")
        assert "mode:     thread stacks (fallback)" in log  # its loop was blocked
        out, _ = stranger.communicate(timeout=scaled(10))  # a signal sent is seen first
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()
    assert "GOT SIGUSR1" not in out, "the relay signalled the pid the child had left"
    relayed = next(line for line in log.splitlines() if line.startswith("relayed:"))
    assert str(child) not in relayed
    with open(fifo, "wb") as f:  # the root goes on: the child's death is reported
        f.write(b"x")
    tree.wait_lines(r"^EXITED .*victim.*SIGKILL", 1, scaled(20))
