"""Stack dumps across a real devx actor tree: examples/hang/hung_tree.py (root, three
children, one grandchild; one task in trio.sleep_forever(), one blocking its loop in
time.sleep)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from conftest import scaled, wait_until
from devx.debug.stack import registry as reg
from test_stack_support import (
    EXAMPLES,
    PY,
    Env,
    Tree,
    complete_log,
    devx_cli,
    dump_count,
    past_coalescing_window,
    read_log,
)
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(120)

PATHS = (
    "hung_tree",
    "hung_tree/blocker",
    "hung_tree/sleeper",
    "hung_tree/spawner",
    "hung_tree/spawner/grandchild",
)


def start_hung_tree(env: Env, *args: str) -> tuple[Tree, dict[str, reg.Entry]]:
    """Start the example and wait until every actor hangs and takes dumps."""
    tree = env.start([PY, str(EXAMPLES / "hung_tree.py"), *args], name="hung_tree")
    tree.wait_lines(r"^HUNG \S+ \d+ ", 4, scaled(20))

    def registered() -> dict[str, reg.Entry] | None:
        mine = {e.path: e for e in env.entries() if e.root_uid.startswith("hung_tree@")}
        return mine if len(mine) == len(PATHS) else None

    actors = wait_until(
        registered,
        scaled(10),
        "the actors to register for stack dumps (is 'devx.debug.stack:HOOK' registered as a hook?)",
    )
    env.track(*(e.pid for e in actors.values()))
    assert sorted(actors) == sorted(PATHS)
    assert actors["hung_tree"].pid == tree.pid and actors["hung_tree"].is_root
    return tree, actors


def test_sigusr1_to_root_dumps_every_actor(dump_env: Env) -> None:
    tree, actors = start_hung_tree(dump_env)
    os.kill(tree.pid, signal.SIGUSR1)
    logs = {
        path: wait_until(lambda pid=e.pid: complete_log(pid), scaled(5), f"the dump of {path}")
        for path, e in actors.items()
    }
    root_uid = actors["hung_tree"].uid
    for path, text in logs.items():
        e = actors[path]
        assert text.startswith(f"{reg.BEGIN_MARKER}: {path} {e.uid} pid {e.pid} =====\n")
        assert f"actor:    name={e.name} uid={e.uid} path={path} pid={e.pid}" in text
        assert f"root={root_uid}" in text
    relayed = re.search(r"^relayed:  SIGUSR1 -> 3 child\(ren\): ([\d ]+)$", logs["hung_tree"], re.M)
    assert relayed, logs["hung_tree"][:600]
    assert sorted(map(int, relayed[1].split())) == sorted(actors[p].pid for p in PATHS[1:4])
    grandchild = actors["hung_tree/spawner/grandchild"].pid
    assert f"relayed:  SIGUSR1 -> 1 child(ren): {grandchild}" in logs["hung_tree/spawner"]
    for path in ("hung_tree/sleeper", "hung_tree/spawner/grandchild"):
        hung = next(ln for ln in logs[path].splitlines() if "in park_in_sleep_forever" in ln)
        assert "hung_tree.py:" in hung and "sleep_forever" in hung
    blocked = logs["hung_tree/blocker"]
    assert "mode:     thread stacks (fallback)" in blocked
    assert "could not be walked" in blocked
    assert "in block_the_loop" in blocked and "time.sleep(3600)" in blocked
    assert "portal.run(park_in_sleep_forever)" in logs["hung_tree/spawner"]
    err = tree.stderr_with(*(e.pid for e in actors.values()))  # shared by the children
    for path, e in actors.items():
        assert f"{reg.BEGIN_MARKER}: {path} {e.uid} pid {e.pid}" in err


def test_sigusr1_to_a_child_dumps_its_subtree_only(dump_env: Env) -> None:
    _tree, actors = start_hung_tree(dump_env)
    os.kill(actors["hung_tree/spawner"].pid, signal.SIGUSR1)
    for path in ("hung_tree/spawner", "hung_tree/spawner/grandchild"):
        wait_until(lambda p=actors[path].pid: complete_log(p), scaled(5), f"the dump of {path}")
    # a marker past the coalescing window, to the root: every actor dumps once more.
    # Each writes its dumps in order: a stray dump outside the subtree from the first
    # signal would come before the marker's, and show in the exact counts.
    past_coalescing_window()
    os.kill(actors["hung_tree"].pid, signal.SIGUSR1)
    want = {path: 2 if path.startswith("hung_tree/spawner") else 1 for path in PATHS}
    for path, n in want.items():
        pid = actors[path].pid
        wait_until(
            lambda pid=pid, n=n: read_log(pid).count(reg.end_line(pid)) >= n,
            scaled(5),
            f"dump {n} of {path}",
        )
    assert {path: dump_count(actors[path].pid) for path in PATHS} == want


SCRIPTS = Path(__file__).resolve().parent / "scripts"
TREE_PATHS = ("root", "root/a", "root/b", "root/c", "root/c/gc0")


@pytest.mark.parametrize("transport", ["tcp", "uds"])
@pytest.mark.parametrize("flag", ["1", None], ids=["flag", "no-flag"])
def test_env_flag_enables_dumps_on_a_real_tree(
    dump_env: Env, transport: str, flag: str | None
) -> None:
    """DEVX_ENABLE_STACKSCOPE=1, no code change: every actor of a tree (over TCP or
    Unix sockets) registers and dumps; without it none registers (and none is sent
    a SIGUSR1, which would kill it)."""
    if flag is not None:
        dump_env.vars["DEVX_ENABLE_STACKSCOPE"] = flag
    argv = [PY, str(SCRIPTS / "sigint_tree.py"), *(["--uds"] if transport == "uds" else [])]
    tree = dump_env.start(argv, name="tree")
    (m,) = tree.wait_lines(r"^PIDS ", 1, scaled(20))  # every actor is up
    pids = [int(pid) for pid in m.string.split()[1:]]
    assert pids[0] == tree.pid and len(pids) == len(TREE_PATHS)
    dump_env.track(*pids)
    try:
        if flag is None:
            assert not [e for e in dump_env.entries() if e.pid in pids]
        else:
            dumps_of_every_actor(dump_env, pids)
    finally:  # ctrl-c: the tree ends cleanly (a killed one would leave its sockets)
        os.killpg(tree.pid, signal.SIGINT)
        tree.proc.wait(scaled(10))


def dumps_of_every_actor(dump_env: Env, pids: list[int]) -> None:
    def registered() -> dict[str, reg.Entry] | None:
        mine = {e.path: e for e in dump_env.entries() if e.pid in pids}
        return mine if len(mine) == len(pids) else None

    actors = wait_until(registered, scaled(5), "every actor registered")
    assert sorted(actors) == sorted(TREE_PATHS)
    assert {e.pid for e in actors.values()} == set(pids)
    os.kill(actors["root"].pid, signal.SIGUSR1)
    for path, e in actors.items():
        text = wait_until(lambda pid=e.pid: complete_log(pid), scaled(5), f"the dump of {path}")
        assert f"actor:    name={e.name} uid={e.uid} path={path} pid={e.pid}" in text
    relayed = f"relayed:  SIGUSR1 -> 1 child(ren): {actors['root/c/gc0'].pid}"
    assert relayed in complete_log(actors["root/c"].pid)


def test_the_brief_names_user_frames_in_a_debug_mode_tree(dump_env: Env) -> None:
    """In debug mode every task running user code has a greenback portal, whose shim
    holds the task's coroutine in a local rather than awaiting it: the brief follows
    it there and names the user's frames (they were all folded as runtime)."""
    start_hung_tree(dump_env, "--debug")
    res = devx_cli(dump_env, "dump", "hung_tree", "--brief", "--timeout", str(scaled(4)))
    assert res.returncode == 0, res.stderr
    for path in ("hung_tree/sleeper", "hung_tree/spawner/grandchild"):
        assert re.search(
            rf"^{path}  task '\S*park_in_sleep_forever' at \S*hung_tree\.py:\d+ "
            "in park_in_sleep_forever$",
            res.stdout,
            re.M,
        ), res.stdout
    assert re.search(
        r"^hung_tree/spawner  task '\S*spawn_grandchild' at \S*hung_tree\.py:\d+ "
        "in spawn_grandchild$",
        res.stdout,
        re.M,
    ), res.stdout
    assert re.search(
        r"^hung_tree  task '\S*main' at \S*hung_tree\.py:\d+ in main$", res.stdout, re.M
    )
