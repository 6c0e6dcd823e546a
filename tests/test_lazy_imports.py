"""A child actor imports what it serves and nothing more (issue 26, item 5): the hook
modules every actor loads at boot are small and load their layer only when the actor's
settings ask for it (debug mode, telemetry, stack dumps); spawning, the fork server
client and discovery load when used. Asked inside real children, over real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import run_script, scaled
from devx.runtime import forkserver

pytestmark = pytest.mark.timeout(120)

SCRIPT = Path(__file__).parent / "scripts" / "child_modules.py"

# what a child that cannot open a REPL and records no telemetry loads of those layers:
# the hook modules and the packages they live in, nothing else
LIGHT = {
    "devx.debug",
    "devx.debug.boot",
    "devx.debug.stack",
    "devx.debug.stack.hook",
    "devx.telemetry",
    "devx.telemetry.config",
    "devx.telemetry.hook",
}
# what only opening a tree, spawning, the fork server or discovery needs
SPAWNING = {
    "devx.runtime.root",
    "devx.runtime.nursery",
    "devx.runtime.spawn",
    "devx.runtime.spawn_methods",
    "devx.runtime.child_record",
    "devx.runtime.boot_watch",
    "devx.runtime.forkserver",
    "devx.runtime.zygote",
    "devx.runtime.discovery",
}
# what only an actor that calls another (a portal) or opens or serves a context or a
# stream needs (issue 26): a child registering with its root uses the channel it has
CALLING = {
    "devx.runtime.portal",
    "devx.runtime.replywait",
    "devx.runtime.context",
    "devx.runtime.broadcast",
    "devx.runtime.payload",
}
HEAVY = ("stackscope", "greenback", "pdbp", "opentelemetry")
# what a debug-mode child needs before any REPL opens: the TTY lock view, the session
# (a pause from any task), ctrl-c shielding, the breakpoint() remap and pdb's
# (pdb_habits: it does not import pdb), greenback portals
DEBUG_NEEDS = {
    "devx.debug.tree_lock",
    "devx.debug.session",
    "devx.debug.sigint",
    "devx.debug.breakpoint_hook",
    "devx.debug.pdb_habits",
    "greenback",
}


def children(method: str) -> dict[str, list[str]]:
    proc = run_script(SCRIPT, method, timeout=scaled(60))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def layers(mods: list[str]) -> set[str]:
    """The modules of the debug and telemetry layers and the heavy dependencies."""
    return {m for m in mods if m.startswith(("devx.debug", "devx.telemetry", *HEAVY))}


def test_a_subprocess_child_imports_what_it_serves() -> None:
    got = children("subprocess")
    plain = got["plain"]
    assert layers(plain) == LIGHT, layers(plain) ^ LIGHT
    assert not SPAWNING & set(plain), SPAWNING & set(plain)
    assert not CALLING & set(plain), CALLING & set(plain)
    assert "devx.runtime.actor" in plain  # (it did report from a running actor)
    assert "argparse" not in plain  # its command line is read by hand

    debug = set(got["debug"])
    assert DEBUG_NEEDS <= debug, DEBUG_NEEDS - debug
    assert "devx.telemetry.boot" not in debug  # telemetry off: still not loaded

    stack = set(got["stack"])
    assert "devx.debug.stack.handler" in stack  # the tree asked for dumps
    assert "devx.debug.session" not in stack and "greenback" not in stack


ROOT_BEFORE_SPAWN = """
import sys, trio, devx
async def main():
    async with devx.open_nursery(name="early") as an:
        before = [m for m in sorted(sys.modules) if m in {WHAT}]
        portal = await an.start_actor("c")
        after = [m for m in sorted(sys.modules) if m in {WHAT}]
        await portal.cancel_actor()
    print(before, after)
trio.run(main)
"""


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_root_loads_portals_once_its_first_child_started(method: str) -> None:
    """What only a ready child needs (its portal) is loaded while that child boots,
    not on the root's way to the spawn."""
    if method == "forkserver" and not forkserver.available():
        pytest.skip("the fork server needs Linux")
    what = {"devx.runtime.portal", "devx.runtime.replywait"}
    proc = subprocess.run(
        [sys.executable, "-c", ROOT_BEFORE_SPAWN.replace("{WHAT}", repr(what))],
        env={**os.environ, "DEVX_SPAWN_METHOD": method},
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == f"[] {sorted(what)}", proc.stdout


@pytest.mark.skipif(not forkserver.available(), reason="the fork server needs Linux")
def test_a_forked_child_inherits_the_preload_and_no_heavy_dependency() -> None:
    """A forked child has what its zygote imported: the runtime, the hook modules and
    what they preload for a default actor (telemetry's file sink: imported once by
    the zygote, not by each child), not the debugger's REPL modules (a tree that
    never debugs never loads them), pdbp, greenback, stackscope, opentelemetry or the
    stack-dump handler, which load when a child uses them."""
    got = children("forkserver")
    plain = set(got["plain"])
    assert "devx.telemetry.file_sink" in plain  # preloaded
    assert "devx.debug.session" not in plain
    assert not {m for m in plain if m.startswith(HEAVY)}, plain
    assert "devx.debug.stack.handler" not in plain
    assert DEBUG_NEEDS <= set(got["debug"]), DEBUG_NEEDS - set(got["debug"])
    assert "devx.debug.stack.handler" in got["stack"]


PROBE = Path(__file__).parent / "scripts" / "import_probe"
DUMP_TREE = Path(__file__).parent / "scripts" / "dump_tree_imports.py"


def _importers(method: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, set[int]]]:
    """Run a debug tree with dumps; which pids imported stackscope and greenback."""
    log = tmp_path / "imports.log"
    proc = run_script(
        DUMP_TREE,
        method,
        timeout=scaled(60),
        PYTHONPATH=os.pathsep.join([str(PROBE), *sys.path]),
        DEVX_TEST_IMPORT_LOG=str(log),
    )
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" not in proc.stderr, proc.stderr  # (trio's wakeup-fd warning)
    pids = json.loads(proc.stdout.strip().splitlines()[-1])
    by: dict[str, set[int]] = {}
    for line in log.read_text().splitlines():
        pid, name = line.split()
        by.setdefault(name, set()).add(int(pid))
    return pids, by


def test_a_subprocess_child_of_a_dump_tree_imports_its_layers_itself(tmp_path: Path) -> None:
    pids, by = _importers("subprocess", tmp_path)
    for name in ("stackscope", "greenback"):
        assert set(pids["children"]) <= by[name], (name, pids, by)


@pytest.mark.skipif(not forkserver.available(), reason="the fork server needs Linux")
def test_forked_children_of_a_dump_tree_inherit_stackscope_and_greenback(tmp_path: Path) -> None:
    """The zygote imports what a child's settings make it load (the stack-dump
    handler and stackscope with dumps on, greenback and the REPL's modules in debug
    mode) before it forks the first such child: no child imports them itself."""
    pids, by = _importers("forkserver", tmp_path)
    for name in ("stackscope", "greenback", "devx.debug.session"):
        importers = by[name] - {pids["root"]}  # (the root loads its own)
        assert importers and not importers & set(pids["children"]), (name, pids, by)
        assert len(importers) == 1, (name, by)  # the zygote, once


def test_a_wrong_child_command_line_is_refused_with_its_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "devx.runtime.child", "--spawn-fd", "x", "--name", "a"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert proc.returncode == 1
    assert "devx.runtime.child: invalid literal for int()" in proc.stderr, proc.stderr
    assert "usage: python -m devx.runtime.child --spawn-fd FD" in proc.stderr, proc.stderr


def test_wire_structs_have_real_annotations() -> None:
    """Every child decodes its SpawnSpec (and Settings in it) and every frame into
    these Structs: string annotations (``from __future__ import annotations``) would
    make msgspec compile and evaluate each one as a ForwardRef in every child's boot."""
    import inspect

    import msgspec

    from devx.core import settings
    from devx.runtime import msgs

    structs = [
        cls
        for mod in (msgs, settings)
        for cls in vars(mod).values()
        if inspect.isclass(cls)
        and issubclass(cls, msgspec.Struct)
        and cls.__module__ == mod.__name__
    ]
    assert {"SpawnSpec", "Settings", "Start", "Return"} <= {c.__name__ for c in structs}
    strings = {
        f"{cls.__name__}.{field}"
        for cls in structs
        for field, ann in inspect.get_annotations(cls).items()
        if isinstance(ann, str)
    }
    assert not strings, f"{len(strings)} string annotations, e.g. {sorted(strings)[:5]}"
