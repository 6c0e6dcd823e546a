"""The fork server spawn backend (``spawn_method="forkserver"``): actors forked from a
pre-imported zygote behave like spawned ones, the zygote dies with its tree, and it
serves only well-formed requests of its own tree."""

from __future__ import annotations

import array
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import msgspec
import pytest
import trio

import devx
import fns
import fork_fns
from _pty import banner, repl_fixture, stops_at_banner_line
from conftest import (
    ZYGOTE_NAME,
    await_until,
    devx_actor_pids,
    devx_zygote_pids,
    run_script,
    scaled,
    wait_gone,
    wait_until,
)
from devx.core import settings
from devx.runtime import forkserver, lifeline, msgs, spawn_methods, zygote

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not forkserver.available(), reason="the fork server needs Linux"),
]

SCRIPTS = Path(__file__).parent / "scripts"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"
FORK_ENV = {"DEVX_SPAWN_METHOD": "forkserver"}

repl = repl_fixture(EXAMPLES)


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def os_ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def zygotes_of(pid: int) -> set[int]:
    """Live fork servers started by process ``pid`` (known by their command line
    from their exec on, before they name themselves)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    os_ppid(int(entry.name)) == pid
                    and b"devx.runtime.zygote" in (entry / "cmdline").read_bytes()
                    and alive(int(entry.name))
                ):
                    found.add(int(entry.name))
            except (OSError, ValueError):
                pass
    return found


def test_the_zygote_starts_on_the_first_spawn():
    """A root that has not spawned has no zygote (its imports would cost CPU for
    nothing); its first spawns, several at once, start one, which forks them all.
    A root opened by open_nursery (to spawn) starts it as it opens; a subprocess tree
    never starts one."""
    me = os.getpid()

    async def lazy() -> list[dict]:
        async with devx.open_root_actor(spawn_method="forkserver"):
            assert not zygotes_of(me), "a zygote before any spawn"
            async with devx.open_nursery() as an:
                assert not zygotes_of(me), "a zygote before any spawn"
                portals: list = [None] * 4

                async def start(i: int) -> None:
                    portals[i] = await an.start_actor(f"a{i}", enable_modules=["fork_fns"])

                async with trio.open_nursery() as n:
                    for i in range(4):
                        n.start_soon(start, i)
                assert len(zygotes_of(me)) == 1
                return [await p.run(fork_fns.proc_state) for p in portals]

    states = trio.run(lazy)
    zygotes = {s["os_ppid"] for s in states}
    assert len(zygotes) == 1 and zygotes != {me}  # one zygote forked all four
    assert not alive(zygotes.pop()), "the zygote outlived its tree"

    async def eager(method: str) -> set[int]:
        async with devx.open_nursery(spawn_method=method):
            return zygotes_of(me)

    assert len(trio.run(eager, "forkserver")) == 1
    assert not trio.run(eager, "subprocess")
    assert not zygotes_of(me)


def test_a_root_that_fails_to_open_takes_its_early_zygote_down(monkeypatch):
    """open_nursery starts its root's zygote before the root opens (the tree's first
    actor waits for the zygote's imports, which so overlap the root's whole set-up);
    a root that then fails to open raises its own error and leaves no zygote."""
    me = os.getpid()
    started: list[int] = []
    real_start = spawn_methods.start_zygote

    async def start_zygote() -> spawn_methods.StartedZygote:
        zyg = await real_start()
        started.append(zyg.proc.pid)
        return zyg

    monkeypatch.setattr(spawn_methods, "start_zygote", start_zygote)

    async def bad_name() -> None:
        async with devx.open_nursery(name="no/slash", spawn_method="forkserver"):
            pass

    with pytest.raises(ValueError, match="invalid actor name 'no/slash'"):
        trio.run(bad_name)
    assert len(started) == 1, "no zygote was started before the root opened"
    assert not alive(started[0]) and not zygotes_of(me), "a zygote outlived its root"


def test_the_zygote_goes_as_the_root_ends_not_after(monkeypatch):
    """Once the nursery that opened the root is over and its children are gone, the
    zygote is let go at once: it exits while the root tears itself down (hooks,
    telemetry, service tasks), where its exit (a big process's memory) was the last
    step of the teardown. The root still waits for it: the block is left with it gone."""
    import time

    seen: list[bool] = []
    zygote_pids: list[int] = []
    real_close = forkserver.ForkServerClient._close

    async def close(self: forkserver.ForkServerClient) -> None:
        # the root's service teardown, which used to be what told the zygote to go
        if self.zygote is not None:
            pid = self.zygote.pid
            zygote_pids.append(pid)
            deadline = time.monotonic() + scaled(10)
            while alive(pid) and time.monotonic() < deadline:
                await trio.sleep(0.02)
            seen.append(not alive(pid))
        await real_close(self)

    monkeypatch.setattr(forkserver.ForkServerClient, "_close", close)

    async def main() -> None:
        async with devx.open_nursery(spawn_method="forkserver") as an:
            portal = await an.start_actor("a", enable_modules=["fork_fns"])
            await portal.run(fork_fns.proc_state)

    trio.run(main)
    assert seen == [True], "the zygote was still there when the root's services ended"
    assert not alive(zygote_pids[0]) and not zygotes_of(os.getpid())


def test_the_roots_last_children_are_reported_after_it_lets_its_zygote_go(monkeypatch):
    """The root lets its zygote go (tells it the tree spawns no more) as soon as its
    nursery block is left, while its children still run: the zygote still reports
    each of their exits to the root (a status, not 'unknown'), then exits."""
    zygote: list[int] = []
    running_at_release: list[int] = []
    real_release = forkserver.release

    def release(root: devx.Actor) -> None:
        if forkserver.current_client() is not None:  # the call that lets it go
            procs = [rec.proc for rec in root.children if rec.proc is not None]
            running_at_release.append(sum(alive(proc.pid) for proc in procs))
        real_release(root)
        assert forkserver.current_client() is None

    monkeypatch.setattr(forkserver, "release", release)

    async def main() -> list:
        async with devx.open_nursery(spawn_method="forkserver") as an:
            for i in range(3):
                await an.start_actor(f"a{i}", enable_modules=["fork_fns"])
            client = forkserver.current_client()
            assert client is not None and client.zygote is not None
            zygote.append(client.zygote.pid)
            recs = list(an.children)
        return recs

    recs = trio.run(main)
    assert running_at_release == [3], "the zygote was let go only once the children were gone"
    assert [(rec.exit_code, rec.exit_unknown) for rec in recs] == [(0, None)] * 3
    assert not alive(zygote[0]) and not zygotes_of(os.getpid())


def test_a_zygote_slow_to_boot_is_waited_for_while_it_makes_progress():
    """The first spawn starts the zygote, whose start takes longer than
    DEVX_BOOT_TIMEOUT (it computes: a slow interpreter start, a loaded machine): the
    spawn waits while the zygote uses CPU, as for a booting child, and the child is
    forked."""
    site = Path(__file__).parent / "slow_site"
    out = run_script(
        SCRIPTS / "slow_zygote_tree.py", "2.5", PYTHONPATH=str(site), DEVX_BOOT_TIMEOUT="1"
    )
    assert out.returncode == 0, out.stderr
    assert "FORKED True" in out.stdout


def test_a_stopped_zygote_fails_a_spawn_saying_so(monkeypatch):
    """A zygote that makes no progress (stopped) fails the spawn after
    DEVX_BOOT_TIMEOUT with a message that says so; the tree goes on."""
    monkeypatch.setenv("DEVX_BOOT_TIMEOUT", "1")

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            await an.start_actor("first", enable_modules=["fork_fns"])
            client = forkserver.current_client()
            assert client is not None and client.zygote is not None
            os.kill(client.zygote.pid, signal.SIGSTOP)
            try:
                with pytest.raises(devx.ActorBootError) as info:
                    await an.start_actor("second", enable_modules=["fork_fns"])
            finally:
                os.kill(client.zygote.pid, signal.SIGCONT)
            return str(info.value)

    msg = trio.run(main)
    assert "did not answer a request to start actor 'root/second'" in msg
    assert "made no progress for 1s (DEVX_BOOT_TIMEOUT)" in msg


def test_children_and_grandchildren_are_forked_by_one_zygote():
    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            portal = await an.start_actor("mid", enable_modules=["fork_fns"])
            mid, sub = await portal.run(fork_fns.nested_states)
        return mid, sub

    mid, sub = trio.run(main)
    zygote = mid["os_ppid"]
    assert zygote != os.getpid() and sub["os_ppid"] == zygote  # one zygote forks all
    assert mid["parent_pid"] == os.getpid() and sub["parent_pid"] == mid["pid"]  # lineage
    assert mid["comm"] == sub["comm"] != ZYGOTE_NAME  # ps shows them like spawned ones
    assert not alive(zygote), "the zygote outlived its tree"


def test_forked_child_looks_like_a_spawned_one(tmp_path):
    """Signals (dispositions and mask), process group and session, stdio, the
    environment, cwd, umask and resource limits of the moment of the spawn: the same
    as a spawned child's.
    The random state is each child's own."""

    stdin_file = tmp_path / "stdin"
    stdin_file.write_text("")

    async def tree(method: str) -> list[dict]:
        for var in ("FS_TEST_VAR", "FS_GONE", "FS_MOVED"):  # as the other tree left them
            os.environ.pop(var, None)
        os.environ["FS_GONE"] = os.environ["FS_MOVED"] = "1"  # the zygote starts with them
        async with devx.open_nursery(spawn_method=method) as an:
            # after the zygote started: what the children get is what the root has now
            os.environ["FS_TEST_VAR"] = method
            del os.environ["FS_GONE"]
            os.chdir(tmp_path)
            os.umask(0o027)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile[0] - 1, nofile[1]))
            with open(stdin_file) as f:
                os.dup2(f.fileno(), 0)
            states = []
            for name in ("a", "b"):
                if name == "b":  # the same value, another place in the order
                    del os.environ["FS_MOVED"]
                    os.environ["FS_MOVED"] = "1"
                portal = await an.start_actor(name, enable_modules=["fork_fns"])
                states.append(await portal.run(fork_fns.proc_state))
            return states

    cwd, stdin, umask = os.getcwd(), os.dup(0), os.umask(0o022)
    os.umask(umask)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        forked = trio.run(tree, "forkserver")
        os.chdir(cwd)
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        spawned = trio.run(tree, "subprocess")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        os.chdir(cwd)
        os.dup2(stdin, 0)
        os.close(stdin)
        os.umask(umask)
        for var in ("FS_TEST_VAR", "FS_GONE", "FS_MOVED"):
            os.environ.pop(var, None)
    assert all(f["os_ppid"] != os.getpid() for f in forked)  # forked by the zygote
    for f, s in zip(forked, spawned, strict=True):  # the whole environment, in its order
        per_child = {"FS_TEST_VAR", "TRACEPARENT"}
        assert [k for k, _ in f["environ"]] == [k for k, _ in s["environ"]]
        assert [kv for kv in f["environ"] if kv[0] not in per_child] == [
            kv for kv in s["environ"] if kv[0] not in per_child
        ]
        assert "FS_GONE" not in dict(f["environ"])
    assert [k for k, _ in forked[1]["environ"]][-4:] == [
        "FS_TEST_VAR",
        "FS_MOVED",
        "DEVX_ACTOR",
        "TRACEPARENT",
    ]
    assert spawned[0]["os_ppid"] == os.getpid()
    same = ("sig_blocked", "sig_ignored", "sig_caught", "handlers", "pgrp", "sid", "stdio")
    same += ("sys_path_has_tests", "comm", "cwd", "umask", "nofile", "gc")
    for key in same:
        assert forked[0][key] == spawned[0][key], key
    assert forked[0]["nofile"] == [nofile[0] - 1, nofile[1]]  # set in the block
    assert {"MainThread", "devx-lifeline"} <= set(forked[0]["threads"])  # watches its parent
    assert forked[0]["cwd"] == str(tmp_path) and forked[0]["umask"] == "0027"
    st = os.stat(stdin_file)
    assert tuple(forked[0]["stdio"][0]) == (st.st_dev, st.st_ino)
    assert forked[0]["env"]["FS_TEST_VAR"] == "forkserver"
    assert [f["env"]["DEVX_ACTOR"] for f in forked] == ["root/a", "root/b"]
    traceparents = [f["env"]["TRACEPARENT"] for f in forked]
    assert all(traceparents) and len(set(traceparents)) == 2  # one per child
    assert forked[0]["random"] != forked[1]["random"]


def test_forked_children_of_a_dump_tree_inherit_a_warm_dump_path():
    """In a tree with dumps the zygote analyses what every actor's dump walks (trio's
    own tasks, the dump's call path) before the first fork, so a child signalled
    right after it starts dumps warm; a subprocess child warms its own, later."""

    async def tree(method: str) -> dict:
        async with devx.open_nursery(spawn_method=method, enable_stack_on_sig=True) as an:
            portal = await an.start_actor("a", enable_modules=["fork_fns"])
            return await portal.run(fork_fns.dump_path_warmth)

    forked = trio.run(tree, "forkserver")
    assert forked == {"warmed_ahead": True, "cached": [True] * 4}, forked
    spawned = trio.run(tree, "subprocess")
    assert spawned["warmed_ahead"] is False, spawned


def test_env_read_at_import_changed_since_the_zygote_started_spawns_a_subprocess(monkeypatch):
    """The zygote's interpreter read PYTHON* variables when it started: a child that
    must see other values is spawned the plain way."""

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            forked = await an.start_actor("forked", enable_modules=["fork_fns"])
            monkeypatch.setenv("PYTHONHASHSEED", "3")
            spawned = await an.start_actor("spawned", enable_modules=["fork_fns"])
            return await forked.run(fork_fns.proc_state), await spawned.run(fork_fns.proc_state)

    forked, spawned = trio.run(main)
    assert forked["os_ppid"] != os.getpid()
    assert spawned["os_ppid"] == os.getpid()


@pytest.mark.parametrize("how", ["sigkill", "os_exit", "cancel"])
def test_exit_codes_and_signals_reach_the_parent(how, tmp_path):
    """The zygote reaps the child and reports its status: the parent sees what a
    spawned child's ``trio.Process`` shows."""

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            portal = await an.start_actor("mortal", enable_modules=["fns"])
            rec = an.children[0]
            assert isinstance(rec.proc, forkserver.ForkedProcess)
            if how == "sigkill":
                await portal.run(fns.kill_self)
            elif how == "os_exit":
                await portal.run(fns.die_hard, code=7)
            else:
                await portal.cancel_actor()
            await rec.exited.wait()
            return rec.exit_code

    if how == "cancel":
        assert trio.run(main) == 0
        return
    with pytest.raises(devx.ActorExited) as info:
        trio.run(main)
    expected = -signal.SIGKILL if how == "sigkill" else 7
    assert info.value.exit_code == expected
    assert ("SIGKILL" if how == "sigkill" else "exited with code 7") in str(info.value)


@pytest.mark.parametrize(
    "script", ["sigint_tree.py", "blocked_tree.py", "sigint_tree.py --root-first"]
)
def test_no_orphans_when_the_root_is_sigkilled(script, proc_tree):
    """Children, grandchildren and the zygote are all gone after the root's SIGKILL
    (with loops blocked in sync code too: blocked_tree; with a zygote started by the
    root's first spawn: --root-first)."""
    before = devx_actor_pids()
    script, *args = script.split()
    tree = proc_tree(SCRIPTS / script, *args, **FORK_ENV, DEVX_CANCEL_GRACE="1")
    root, *pids = tree.pids()
    assert set(pids) == devx_actor_pids() - before
    zygotes = {os_ppid(pid) for pid in pids}
    assert len(zygotes) == 1
    zygote = zygotes.pop()
    assert comm(zygote) == ZYGOTE_NAME
    assert os_ppid(zygote) == root
    os.kill(root, signal.SIGKILL)
    tree.wait(scaled(5))
    assert not wait_gone(set(pids), timeout=scaled(5)), "children outlived the root"
    wait_until(lambda: zygote not in devx_zygote_pids(), scaled(5), "the zygote to exit")
    _out, err = tree.output()  # end of file: no process of the tree holds stderr
    if script == "blocked_tree.py":  # their loops are stuck: they say so and exit
        assert f"its parent (pid {root}) died" in err


def test_a_process_the_user_forks_does_not_keep_the_tree_alive(proc_tree):
    """The root forks a helper of its own (a multiprocessing 'fork' pool would), then
    is SIGKILLed: its actor and the zygote are gone although the helper lives on (it
    must not hold the actor's parent-death pipe or the zygote's socket)."""
    tree = proc_tree(SCRIPTS / "fork_helper_tree.py", **FORK_ENV)
    helper = None
    try:
        root, actor, helper = tree.pids()
        zygote = os_ppid(actor)
        assert comm(zygote) == ZYGOTE_NAME
        os.kill(root, signal.SIGKILL)
        tree.wait(scaled(5))
        assert not wait_gone({actor}, timeout=scaled(5)), "the actor outlived its root"
        wait_until(lambda: zygote not in devx_zygote_pids(), scaled(5), "the zygote to exit")
        assert os.path.exists(f"/proc/{helper}"), "the helper itself is the user's"
    finally:
        if helper is not None:
            os.kill(helper, signal.SIGKILL)


def test_main_module_functions_run_in_forked_children(tmp_path):
    script = tmp_path / "mainmod.py"
    script.write_text(
        "import os, trio, devx\n"
        "print('TOPLEVEL', os.getpid(), flush=True)\n"
        "def where(x):\n"
        "    return x * x, os.getppid()\n"
        "async def main():\n"
        "    async with devx.open_nursery() as an:\n"
        "        p = await an.start_actor('m', enable_modules=[__name__])\n"
        "        sq, ppid = await p.run(where, x=7)\n"
        "        print('SQUARE', sq, 'FORKED', ppid != os.getpid(), flush=True)\n"
        "        r = await an.run_in_actor(where, name='r', x=3)\n"
        "        print('RESULT', (await r.result())[0], flush=True)\n"
        "if __name__ == '__main__':\n"
        "    print('MAINBLOCK', flush=True)\n"
        "    trio.run(main)\n"
    )
    out = run_script(script, cwd=tmp_path, **FORK_ENV)
    assert out.returncode == 0, out.stderr
    assert "SQUARE 49 FORKED True" in out.stdout and "RESULT 9" in out.stdout
    assert out.stdout.count("MAINBLOCK") == 1  # never re-run in children
    assert out.stdout.count("TOPLEVEL") == 3  # the root and each child imported it


def test_pause_in_a_forked_child_drives_the_repl(repl):
    """The forked child's REPL reads and writes the terminal; ctrl-c (to the whole
    process group, the zygote included) is shielded while it is live."""
    r = repl("child_pause_sleep.py", **FORK_ENV)
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    first = r.prompt()
    pid = r.repl_pid
    assert pid is not None and comm(os_ppid(pid)) == ZYGOTE_NAME  # forked, not spawned
    assert r.cmd("p 40 + 2").strip().endswith("42")
    r.wait_reading()
    r.child.sendintr()
    r.expect_exact("ctrl-c shielded: root/pauser is in the REPL")
    r.prompt()
    stops_at_banner_line(first, "-> await devx.pause()")  # on every Python
    assert "-> await trio.sleep(0.1)" in r.cmd("n")
    # `n` over an await that suspends the task stays in the REPL, on every Python
    assert '-> return "child finished"' in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("root got: child finished")
    assert r.finish() == 0


def test_a_repl_in_a_childs_teardown_outlives_the_zygotes_linger(repl):
    """The root lets its zygote go as its nursery block is left (its tree spawns no
    more), while a forked child then opens a REPL in its teardown (a pause in its
    finally:): that is not "the root is gone", so no linger deadline runs and the
    child is not SIGKILLed under the prompt while the root waits for it. The person
    stays at the prompt past the linger a gone root would have had, then goes on."""
    grace = "0.2"  # the linger: 3 * grace + 5 s
    linger = zygote.linger(settings.resolve({**os.environ, "DEVX_CANCEL_GRACE": grace}))
    r = repl(str(SCRIPTS / "pause_in_teardown.py"), DEVX_CANCEL_GRACE=grace, **FORK_ENV)
    r.expect_exact("root: leaving the nursery block")
    r.expect(banner("PAUSE", "worker", "root/worker"))
    stops_at_banner_line(r.prompt(), "-> await devx.pause()")
    # the root let its zygote go before the child was asked to end: a linger armed
    # then would run out by this deadline
    deadline = time.monotonic() + linger + scaled(1)
    pid = r.repl_pid
    assert pid is not None
    zyg = os_ppid(pid)
    assert comm(zyg) == ZYGOTE_NAME  # forked
    wait_until(
        lambda: not alive(pid) or time.monotonic() > deadline,
        linger + scaled(5),
        "the child's end or the linger deadline",
    )
    assert alive(pid), f"the child at its REPL was killed:\n{r.log.getvalue()}"
    assert alive(zyg), f"the zygote left its child at a REPL:\n{r.log.getvalue()}"
    assert r.cmd("p cleanup").strip().endswith("'closing connections'")
    assert '-> print(f"worker: cleanup done' in r.cmd("n")
    r.child.sendline("c")
    r.expect_exact("worker: cleanup done (closing connections)")
    r.expect_exact("root: the worker is gone")
    r.expect_exact("tree done")
    assert r.finish() == 0
    out = r.log.getvalue()
    assert "SIGKILL" not in out and "unknown" not in out, out
    assert not alive(zyg), "the zygote outlived its tree"


def test_a_dead_zygote_costs_exit_codes_not_the_tree(devx_log):
    """Should the zygote be killed, the tree goes on: its forked children still serve
    and stop (their exit status is unknown), new ones are spawned as subprocesses."""

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            forked = await an.start_actor("forked", enable_modules=["fork_fns"])
            state = await forked.run(fork_fns.proc_state)
            os.kill(state["os_ppid"], signal.SIGKILL)
            client = forkserver.current_client()
            assert client is not None
            await await_until(lambda: client.lost, scaled(5), "the client to notice")
            spawned = await an.start_actor("spawned", enable_modules=["fork_fns"])
            assert (await spawned.run(fork_fns.proc_state))["os_ppid"] == os.getpid()
            assert (await forked.run(fork_fns.proc_state))["pid"] == state["pid"]
            await forked.cancel_actor()
            return an.children, state["pid"]

    _children, pid = trio.run(main)
    assert not wait_gone({pid})
    assert any("spawned as subprocesses instead" in m for m in devx_log)
    assert any(f"actor process {pid} exited after the fork server died" in m for m in devx_log)


def test_a_deadline_around_the_whole_tree_still_hears_its_forked_children_exit(devx_log):
    """A cancel from outside the tree (a deadline around the root) reaches the fork
    server's service task together with the nursery's teardown: it goes on reading
    the children's exits until they are gone. Before, it closed at once: the exits
    were 'unknown' (a warning each), the zygote was SIGKILLed, and the children saw
    their lifeline end (their parent 'dead') under the teardown."""
    pids: list[int] = []

    async def main():
        with trio.CancelScope() as outer:
            async with devx.open_nursery(spawn_method="forkserver") as an:
                for name in ("a", "b"):
                    portal = await an.start_actor(name, enable_modules=["fork_fns"])
                    pids.append((await portal.run(fork_fns.proc_state))["pid"])
                outer.cancel()
                await trio.sleep_forever()

    trio.run(main)
    assert not wait_gone(set(pids))
    said = [m for m in devx_log if "fork server" in m or "exit status is unknown" in m]
    assert not said, said


@pytest.mark.parametrize("how", ["os_exit", "sigkill"])
def test_an_exit_the_killed_zygote_never_reported_says_it_is_unknown(how):
    """The zygote, a forked child's OS parent, is SIGKILLed; then the child dies on
    its own: nobody can know its exit status. The parent says so (not a made-up
    code, not a cancel), and its ActorExited has no exit code."""

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            portal = await an.start_actor("orphan", enable_modules=["fns", "fork_fns"])
            zygote = (await portal.run(fork_fns.proc_state))["os_ppid"]
            os.kill(zygote, signal.SIGKILL)
            client = forkserver.current_client()
            assert client is not None
            await await_until(lambda: client.lost, scaled(10), "the client to notice")
            if how == "os_exit":
                await portal.run(fns.die_hard, code=7)
            else:
                await portal.run(fns.kill_self)
            await trio.sleep_forever()

    with pytest.raises(devx.ActorExited) as info:
        trio.run(main)
    text = str(info.value)
    assert "root/orphan" in text and info.value.exit_code is None
    assert "exit status is unknown: the fork server ended before reporting it" in text
    # (no made-up code: 255 is what a lost status reads as; a pid may contain the digits)
    assert not re.search(r"\b255\b", text) and "cancel" not in text


# --- the zygote's channel: private, and strict about what it serves ---------------------


class Zygote:
    """A zygote started by hand, talked to like a root would."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", forkserver.BOOT, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.sock.settimeout(scaled(10))
        self.life_r, self.life_w = os.pipe()

    def send(self, data: bytes, fds: list[int] | None = None) -> None:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self.sock.sendmsg([data], anc)

    def recv(self) -> tuple[object, list[int]]:
        data, anc, _, _ = self.sock.recvmsg(msgs.ZYGOTE_MAX_FRAME, socket.CMSG_SPACE(16))
        fds: list[int] = []
        for _level, _kind, raw in anc:
            arr = array.array("i")
            arr.frombytes(raw)
            fds.extend(arr)
        return msgspec.msgpack.decode(data, type=msgs.ZygoteMsg), fds

    def refused(self, data: bytes, fds: list[int] | None = None) -> str:
        self.send(data, fds)
        reply, _ = self.recv()
        assert isinstance(reply, msgs.ForkRefused), reply
        return reply.reason

    def close(self) -> None:
        self.sock.close()
        for fd in (self.life_r, self.life_w):
            os.close(fd)
        try:
            self.proc.wait(timeout=scaled(5))
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def _spec(secret: str, name: str = "x") -> msgs.SpawnSpec:
    me = msgs.ActorID("root", "0" * 32)
    return msgs.SpawnSpec(
        name=name,
        uuid="1" * 32,
        parent_uid=me,
        root_uid=me,
        parent_path="root",
        parent_addr=("127.0.0.1", 1),
        root_addr=("127.0.0.1", 1),
        secret=secret,
        enable_modules=[],
        config=msgs.RuntimeConfig(telemetry="off"),
        parent_pid=os.getpid(),
    )


def _fork_msg(secret: str, env: dict[str, str] | None = None, name: str = "x") -> bytes:
    spec = _spec(secret, name)
    env = dict(os.environ) if env is None else env
    return msgspec.msgpack.encode(msgs.Fork(req=5, spec=spec, env=env, cwd=os.getcwd()))


def test_the_zygote_refuses_bad_requests_and_serves_good_ones():
    z = Zygote()
    try:
        secret = "s3cret"
        assert "wrong secret" in z.refused(_fork_msg(secret), [z.life_r, 0, 1, 2])  # no hello yet
        z.send(msgspec.msgpack.encode(msgs.ZygoteHello(secret=secret)))
        assert "malformed request" in z.refused(b"\xc1 not msgpack")
        assert "malformed request" in z.refused(msgspec.msgpack.encode({"type": "Nope"}))
        assert "unexpected hello" in z.refused(msgspec.msgpack.encode(msgs.ZygoteHello("x")))
        assert "unexpected Forked" in z.refused(msgspec.msgpack.encode(msgs.Forked(1, 1)))
        stdio = [0, 1, 2]
        # the child's channel to its parent: a socketpair, its end sent last
        ours, theirs = socket.socketpair()
        chan = theirs.fileno()
        assert "wrong secret" in z.refused(_fork_msg("guess"), [z.life_r, *stdio, chan])
        assert "lifeline pipe" in z.refused(_fork_msg(secret), [*stdio, chan])
        with socket.socket() as other:
            assert "lifeline pipe" in z.refused(_fork_msg(secret), [other.fileno(), *stdio, chan])
        assert "lifeline pipe" in z.refused(_fork_msg(secret), [z.life_r, chan])  # no stdio
        assert "lifeline pipe" in z.refused(_fork_msg(secret), [z.life_r, *stdio])  # no channel
        assert "channel socket" in z.refused(_fork_msg(secret), [z.life_r, *stdio, z.life_r])
        assert "lifeline pipe" in z.refused(_fork_msg(secret), [z.life_r, *stdio, chan, chan])
        bad_env = _fork_msg(secret, env={"A=B": "1"})
        assert "invalid environment variable" in z.refused(bad_env, [z.life_r, *stdio, chan])
        bad_name = _fork_msg(secret, name="a/b")
        assert "invalid actor name" in z.refused(bad_name, [z.life_r, *stdio, chan])
        # the zygote's sockets have no address another local user could connect to
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[6]) in fork_fns.socket_inodes(z.proc.pid):
                assert len(fields) == 7, f"the zygote has a named socket: {line}"
        # still serving: a good request forks a child, whose exit is reported (it says
        # hello on its channel, which we close unanswered)
        z.send(_fork_msg(secret), [z.life_r, *stdio, chan])
        theirs.close()
        forked, fds = z.recv()
        assert ours.recv(4), "the forked child said nothing on its channel"
        ours.close()
        assert isinstance(forked, msgs.Forked) and forked.req == 5 and len(fds) == 1
        os.close(fds[0])
        exited, _ = z.recv()
        assert exited == msgs.ChildExited(pid=forked.pid, returncode=3)  # EXIT_NO_PARENT
    finally:
        z.close()
    assert z.proc.returncode == 0  # its root (our socket) went away: it exited


def test_a_released_zygote_reports_the_last_exit_then_goes_while_the_root_lives():
    """ZygoteRelease (the root's tree spawns no more) with a child still running:
    the zygote goes on (the root lives), reports the child's exit, then closes the
    root's connection and exits, though the root keeps its side open."""
    z = Zygote()
    try:
        secret = "s3cret"
        z.send(msgspec.msgpack.encode(msgs.ZygoteHello(secret=secret)))
        ours, theirs = socket.socketpair()
        z.send(_fork_msg(secret), [z.life_r, 0, 1, 2, theirs.fileno()])
        theirs.close()
        forked, fds = z.recv()
        assert isinstance(forked, msgs.Forked)
        for fd in fds:
            os.close(fd)
        assert ours.recv(4), "the forked child said nothing on its channel"
        z.send(msgspec.msgpack.encode(msgs.ZygoteRelease()))
        assert z.proc.poll() is None and alive(forked.pid)
        ours.close()  # its parent's channel ends: the child exits
        exited, _ = z.recv()
        assert exited == msgs.ChildExited(pid=forked.pid, returncode=3)  # EXIT_NO_PARENT
        assert z.sock.recv(16) == b"", "the zygote kept the root's connection open"
        assert z.proc.wait(timeout=scaled(5)) == 0
    finally:
        z.close()


def test_forked_child_holds_none_of_the_zygotes_connections():
    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            a = await an.start_actor("a", enable_modules=["fork_fns"])
            b = await an.start_actor("b", enable_modules=["fork_fns"])
            zygote = (await a.run(fork_fns.proc_state))["os_ppid"]
            zygote_socks = set(fork_fns.socket_inodes(zygote))
            for portal in (a, b):
                assert not zygote_socks & set(await portal.run(fork_fns.my_socket_inodes))

    trio.run(main)


def test_bad_spawn_method_is_a_clear_error():
    async def main():
        async with devx.open_root_actor(spawn_method="threads"):
            pass

    with pytest.raises(ValueError, match="spawn_method='threads' is not a spawn method"):
        trio.run(main)


def test_trees_one_after_another_leave_no_fds_behind():
    async def main():  # telemetry off: the fork server's fds alone
        async with devx.open_nursery(spawn_method="forkserver", telemetry="off") as an:
            portal = await an.start_actor("a", enable_modules=["fns"])
            assert await portal.run(fns.add, a=1, b=2) == 3

    trio.run(main)  # the first tree may open what lives as long as the process
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(2):
        trio.run(main)
    assert set(os.listdir("/proc/self/fd")) <= before


# --- the review's findings (issue 26, item 7) --------------------------------------------


def test_a_request_the_zygote_cannot_read_fails_at_once(monkeypatch):
    """A frame the zygote cannot decode is refused with no request id: the spawn that
    sent it fails then, saying why, instead of waiting out DEVX_BOOT_TIMEOUT; the
    requests after it are answered as theirs."""
    monkeypatch.setenv("DEVX_BOOT_TIMEOUT", "600")
    secret = "s3cret"

    async def main():
        client = await forkserver.launch(secret)
        async with trio.open_nursery() as n:
            await n.start(client.run)
            # a field of the wrong type: encoded as is, rejected by the zygote's decoder
            bad = msgspec.structs.replace(_spec(secret, "bad"), parent_pid="not a pid")
            ours, theirs = socket.socketpair()
            with ours, theirs, trio.fail_after(scaled(30)):
                with pytest.raises(devx.ActorBootError) as info:
                    await client.fork(bad, dict(os.environ), theirs.fileno())
                assert "could not read the request" in str(info.value)
                assert "root/bad" in str(info.value)
                good = await client.fork(_spec(secret, "good"), dict(os.environ), theirs.fileno())
                assert isinstance(good, forkserver.ForkedProcess)
                good.kill()
                assert await good.wait() == -signal.SIGKILL
            n.cancel_scope.cancel()

    trio.run(main)


def test_a_requester_that_stops_reading_does_not_stall_the_zygote(tmp_path):
    """An actor floods the zygote with frames it cannot read and stops reading (its
    loop blocked) while its children are killed: more answers than its socket holds.
    The zygote keeps them for it and serves the others meanwhile (here the root's
    next spawn), and the actor gets every exit report once its loop runs again (the
    zygote neither waited on it nor dropped it)."""
    release = tmp_path / "release"
    n, flood = 8, 2000  # 2000 refusals: far more than an unread socket buffer holds

    async def main():
        async with devx.open_nursery(spawn_method="forkserver") as an:
            mid = await an.start_actor("mid", enable_modules=["fork_fns"])
            stall = fork_fns.stall_while_children_die
            kwargs = {"n": n, "flood": flood, "release": str(release)}
            async with mid.open_stream_from(stall, **kwargs) as stream:
                pids = await anext(stream)
                zygote = os_ppid(pids[0])
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                gone = lambda: not any(os.path.exists(f"/proc/{pid}") for pid in pids)  # noqa: E731
                await await_until(gone, scaled(20), "the zygote to reap them")
                late = await an.start_actor("late", enable_modules=["fork_fns"])
                assert (await late.run(fork_fns.proc_state))["os_ppid"] == zygote
                release.touch()
                return await anext(stream)

    report = trio.run(main)
    assert report["lost"] is None
    assert report["codes"] == [-signal.SIGKILL] * n


def test_forked_child_gets_its_requesters_process_group_and_signals():
    """A forked child's process group and signal dispositions are its requester's,
    as of the spawn, as a spawned child's are (exec keeps what is ignored and resets
    handlers): not the zygote's. The requester here took a group of its own, set
    SIGALRM (ignored by the root when the zygote started) back to the default and
    ignores SIGWINCH; the kernel's view of both leaves must match."""
    out = run_script(SCRIPTS / "signals_pgrp_tree.py", "forkserver", "subprocess")
    assert out.returncode == 0, out.stderr
    reports = {}
    for line in out.stdout.splitlines():
        method, _, report = line.partition(" ")
        reports[method] = json.loads(report)
    forked, spawned = reports["forkserver"], reports["subprocess"]
    assert forked["leaf_os_ppid"] != forked["me"]  # forked by the zygote
    assert spawned["leaf_os_ppid"] == spawned["me"]
    for report in (forked, spawned):
        assert report["leaf"]["pgrp"] == report["me"]  # its requester's new group
        assert report["leaf"]["session"] == report["mid"]["session"]
    for key in ("SigIgn", "SigCgt", "SigBlk"):
        assert forked["leaf"][key] == spawned["leaf"][key], key
    ignored = int(forked["leaf"]["SigIgn"], 16)
    assert ignored >> (signal.SIGWINCH - 1) & 1 and not ignored >> (signal.SIGALRM - 1) & 1


def test_without_a_pidfd_a_pid_is_signalled_only_while_it_is_the_child():
    """Where the kernel has no pidfds, a forked child is known by its pid and the start
    time the zygote read at the fork: a pid whose process started at another time
    (reused since the child was reaped) is never signalled. The stand-in for a reused
    pid: a live process whose recorded start time is not its own."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        start = lifeline.start_time(proc.pid)
        assert start > 0

        async def main():
            reused = forkserver.ForkedProcess(proc.pid, -1, "root/gone", start=start + 1)
            reused.kill()  # not the child it names: nothing sent
            assert proc.poll() is None
            mine = forkserver.ForkedProcess(proc.pid, -1, "root/mine", start=start)
            mine.terminate()

        trio.run(main)
        # SIGTERM ended it: a SIGKILL sent first would have
        assert proc.wait(timeout=scaled(10)) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
@pytest.mark.parametrize("blocked", ["parent", "child", "one_shot"])
def test_a_child_killed_while_a_loop_is_blocked_is_reported_killed(method, blocked, tmp_path):
    """SIGKILLed while its parent's loop is blocked in sync code (the exit report and
    the channel's end of file arrive together when it runs again), or while its own
    loop is (busy in a call), or as a one-shot child: the parent reports the death,
    with its signal, as ActorExited (never as a cancel), with either spawn method."""

    async def main():
        async with devx.open_nursery(spawn_method=method) as an:
            if blocked == "one_shot":
                portal = await an.run_in_actor(fns.sleep_forever, name="victim")
            else:
                portal = await an.start_actor("victim", enable_modules=["fns", "fork_fns"])
            rec = an.children[0]
            pid = rec.pid
            if blocked == "child":
                marker = tmp_path / "blocked"
                async with trio.open_nursery() as n:
                    block = partial(portal.run, fork_fns.block_in_sync_code, marker=str(marker))
                    n.start_soon(block)
                    await await_until(marker.exists, scaled(20), "the child's loop to block")
                    os.kill(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
                wait_until(lambda: not alive(pid), scaled(20), "it to die")  # loop blocked
            await trio.sleep_forever()

    with pytest.raises(devx.ActorExited) as info:
        trio.run(main)
    assert info.value.exit_code == -signal.SIGKILL
    assert "killed by SIGKILL" in str(info.value)


def test_a_fork_server_that_cannot_start_leaves_the_tree_spawning_subprocesses():
    """The OS refuses the zygote's process (an audit hook in the script refuses only
    that one): the first spawn says so once and every actor is spawned as a
    subprocess; the tree works and ends cleanly."""
    out = run_script(SCRIPTS / "refused_zygote_tree.py")
    assert out.returncode == 0, out.stderr
    assert "FORKED False False" in out.stdout
    warned = [line for line in out.stderr.splitlines() if "the fork server cannot start" in line]
    assert len(warned) == 1, out.stderr
    assert "process table full (refused by the test)" in warned[0]
    assert "spawned as subprocesses instead" in warned[0]
