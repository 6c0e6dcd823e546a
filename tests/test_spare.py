"""The spare of a subprocess tree: ``open_nursery`` starts its first actor's process
(``python -m devx.runtime.child --spare-fd FD``) before the root opens, so its
imports overlap the root's set-up. The first spawn takes it only when the child it
wants is the one the spare would be (what the block changed reaches the child: else
it is spawned plainly); a spare nobody takes is killed and reaped, never an orphan,
never a word on stderr."""

from __future__ import annotations

import os
import resource
import signal
import socket
from pathlib import Path

import pytest
import trio

import devx
import fork_fns
from conftest import devx_actor_pids, scaled, wait_gone, wait_until
from devx.runtime import spawn

pytestmark = pytest.mark.timeout(90)

SCRIPTS = Path(__file__).parent / "scripts"
PER_CHILD = {"DEVX_ACTOR", "TRACEPARENT"}


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def reaped(pid: int, parent: int) -> bool:
    """``pid`` is no child of ``parent`` any more, not even a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return int(stat.rsplit(")", 1)[1].split()[1]) != parent


@pytest.fixture
def spares(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the spares started in this process."""
    started: list[int] = []
    real = spawn.Spare.start.__func__  # type: ignore[attr-defined]

    async def start(cls: type[spawn.Spare]) -> spawn.Spare:
        spare = await real(cls)
        started.append(spare.proc.pid)
        return spare

    monkeypatch.setattr(spawn.Spare, "start", classmethod(start))
    return started


def test_the_first_actor_is_the_spare_and_looks_like_a_spawned_one(spares):
    """Nothing changed in the block: the first actor is the spare; it looks like the
    second (spawned plainly) in everything it inherits, its environment in its order
    (its own DEVX_ACTOR and TRACEPARENT included)."""

    async def tree() -> list[dict]:
        async with devx.open_nursery(spawn_method="subprocess") as an:
            states = []
            for name in ("a", "b"):
                portal = await an.start_actor(name, enable_modules=["fork_fns"])
                states.append(await portal.run(fork_fns.proc_state))
            return states

    a, b = trio.run(tree)
    assert [a["pid"]] == spares  # the spare's process is the first actor's
    assert a["os_ppid"] == b["os_ppid"] == a["parent_pid"] == os.getpid()
    assert [k for k, _ in a["environ"]] == [k for k, _ in b["environ"]]
    assert [kv for kv in a["environ"] if kv[0] not in PER_CHILD] == [
        kv for kv in b["environ"] if kv[0] not in PER_CHILD
    ]
    assert (a["env"]["DEVX_ACTOR"], b["env"]["DEVX_ACTOR"]) == ("root/a", "root/b")
    assert a["env"]["TRACEPARENT"] and a["env"]["TRACEPARENT"] != b["env"]["TRACEPARENT"]
    same = ("sig_blocked", "sig_ignored", "sig_caught", "handlers", "pgrp", "sid", "stdio")
    same += ("sys_path_has_tests", "comm", "cwd", "umask", "threads", "gc")
    for key in same:
        assert a[key] == b[key], key
    assert a["gc"][0]  # the collector, off for the spare's imports, is on again
    assert reaped(a["pid"], os.getpid()) and not devx_actor_pids() & {a["pid"], b["pid"]}


def nofile_limit() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@pytest.mark.parametrize("change", ["set", "unset", "cwd", "umask", "stdin", "rlimit"])
def test_what_the_block_changes_reaches_the_first_actor(change, spares, tmp_path):
    """The environment, cwd, umask, stdio or a resource limit changed in the block
    before the first spawn: the child has them (spawned plainly), the spare is killed
    and reaped. (A resource limit: the spare kept the one it started with.)"""
    stdin_file = tmp_path / "stdin"
    stdin_file.write_text("")
    os.environ["SPARE_GONE"] = "1"

    async def tree() -> dict:
        async with devx.open_nursery(spawn_method="subprocess") as an:
            if change == "set":
                os.environ["SPARE_TEST_VAR"] = "set in the block"
            elif change == "unset":
                del os.environ["SPARE_GONE"]
            elif change == "cwd":
                os.chdir(tmp_path)
            elif change == "umask":
                os.umask(0o027)
            elif change == "rlimit":
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile[0] - 1, nofile[1]))
            else:
                with open(stdin_file) as f:
                    os.dup2(f.fileno(), 0)
            portal = await an.start_actor("a", enable_modules=["fork_fns", "test_spare"])
            state = await portal.run(fork_fns.proc_state)
            state["nofile"] = await portal.run(nofile_limit)
            return state

    cwd, stdin, umask = os.getcwd(), os.dup(0), os.umask(0o022)
    os.umask(umask)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        state = trio.run(tree)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        os.chdir(cwd)
        os.dup2(stdin, 0)
        os.close(stdin)
        os.umask(umask)
        os.environ.pop("SPARE_TEST_VAR", None)
        os.environ.pop("SPARE_GONE", None)
    (spare,) = spares
    assert state["pid"] != spare
    assert reaped(spare, os.getpid()), "the spare outlived its tree"
    environ = dict(state["environ"])
    if change == "set":
        assert environ["SPARE_TEST_VAR"] == "set in the block"
    elif change == "unset":
        assert "SPARE_GONE" not in environ
    elif change == "cwd":
        assert state["cwd"] == str(tmp_path)
    elif change == "umask":
        assert state["umask"] == "0027"
    elif change == "rlimit":
        assert tuple(state["nofile"]) == (nofile[0] - 1, nofile[1])
    else:
        st = os.stat(stdin_file)
        assert tuple(state["stdio"][0]) == (st.st_dev, st.st_ino)


@pytest.mark.parametrize("how", ["returns", "raises", "bad root"])
def test_a_tree_that_spawns_nothing_leaves_no_spare(how, spares, capfd):
    """The block ends without a spawn (or raises, or the root fails to open): the
    spare is killed and reaped by the time open_nursery is left, silently."""

    async def tree() -> None:
        name = "no/slash" if how == "bad root" else "root"
        async with devx.open_nursery(name=name, spawn_method="subprocess"):
            await trio.sleep(0)
            if how == "raises":
                raise KeyError("the block's own")

    if how == "returns":
        trio.run(tree)
    else:
        with pytest.raises(ValueError if how == "bad root" else KeyError):
            trio.run(tree)
    (spare,) = spares
    assert reaped(spare, os.getpid())
    assert "devx: actor" not in capfd.readouterr().err


def test_a_spawn_cancelled_as_it_takes_the_spare_leaves_no_process():
    """The first spawn cancelled at the send of the spare's spec (a ctrl-c, a timeout
    around start_actor): the spare is nobody's actor, so it is killed and reaped as an
    untaken one. Before: counted as taken, it read the end of its socket and exited,
    and nobody reaped it (a zombie for the root's lifetime)."""

    async def main() -> int:
        spare = await spawn.Spare.start()
        ours, theirs = socket.socketpair()
        with ours, theirs, trio.CancelScope() as cs:
            cs.cancel()  # (the send's first checkpoint raises)
            await spare.take(None, dict(os.environ), theirs.fileno())  # type: ignore[arg-type]
        await spare.discard()  # what open_nursery does as it ends
        return spare.proc.pid

    assert reaped(trio.run(main), os.getpid())


@pytest.mark.parametrize("when", ["importing", "waiting"])
def test_a_spare_never_outlives_its_root(when, proc_tree):
    """The root is SIGKILLed before any spawn, while its spare imports or once it
    waits for its spec: the spare exits at once, saying nothing."""
    before = devx_actor_pids()
    tree = proc_tree(SCRIPTS / "spare_tree.py", DEVX_CANCEL_GRACE="30")
    (root,) = tree.pids()
    (spare,) = wait_until(lambda: devx_actor_pids() - before, scaled(10), "the spare")
    assert "--spare-fd" in cmdline(spare)
    if when == "waiting":  # its lifeline thread is up: it reads its socket
        wait_until(
            lambda: len(os.listdir(f"/proc/{spare}/task")) > 1, scaled(20), "the spare's imports"
        )
    os.kill(root, signal.SIGKILL)
    tree.wait(scaled(5))
    # (well within the grace: it does not wait for it)
    assert not wait_gone({spare}, timeout=scaled(10)), "the spare outlived its root"
    _out, err = tree.output()  # end of file: no process of the tree holds stderr
    assert err == "", err


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _importing(pid: int) -> bool:
    """``pid`` is past its interpreter's start, in its imports (trio's thread cache
    loaded ctypes), and its lifeline thread (started once they are done) is not up."""
    try:
        return "_ctypes" in Path(f"/proc/{pid}/maps").read_text() and _threads(pid) == 1
    except OSError:
        return False


def test_a_ctrl_c_while_the_spare_imports_is_not_its_to_handle(proc_tree):
    """A ctrl-c in the program's first moments reaches the spare too (the terminal's
    process group) while it imports: it is the root's to handle, as for the fork
    server's zygote. Before: the spare died of it, a KeyboardInterrupt traceback of
    its imports on the terminal."""
    before = devx_actor_pids()
    tree = proc_tree(SCRIPTS / "spare_tree.py", DEVX_CANCEL_GRACE="30")
    (root,) = tree.pids()
    (spare,) = wait_until(lambda: devx_actor_pids() - before, scaled(10), "the spare")
    # (should it be done importing by now, the ctrl-c is ignored as it always was)
    wait_until(lambda: _importing(spare) or _threads(spare) != 1, scaled(20), "the spare's imports")
    os.kill(spare, signal.SIGINT)
    wait_until(lambda: _threads(spare) != 1, scaled(20), "the spare's imports done (or its end)")
    assert spare in devx_actor_pids(), "the spare died of the ctrl-c"
    os.kill(root, signal.SIGKILL)
    tree.wait(scaled(5))
    assert not wait_gone({spare}, timeout=scaled(10)), "the spare outlived its root"
    _out, err = tree.output()
    assert err == "", err
