"""Code that runs beyond an actor's run: processes the actor starts with
multiprocessing (no actors of the tree, yet they inherit (fork) or re-import (spawn)
what the actor runs) and a child's atexit handlers. A breakpoint there must neither
wait on a loop that is not there nor open a bare pdb on the tree's terminal: one line
says why no REPL opens. A spawned worker must find the root's script."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_script

pytestmark = pytest.mark.timeout(90)

SCRIPTS = Path(__file__).parent / "scripts"
SCRIPT = SCRIPTS / "forked_from_actor.py"


def test_a_breakpoint_in_a_worker_forked_from_an_actor_says_why_no_repl_opens():
    res = run_script(SCRIPT, "fork")  # before: the worker waited on the actor's loop
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())  # (the line is fitted to a terminal's width)
    assert "[devx] breakpoint() at forked_from_actor.py:21 in in_worker() skipped: pid " in err
    assert "was forked from actor 'root/kid' (pid " in err
    assert "no REPL opens here. Stop in the actor's own code" in err
    assert err.count("skipped") == 1
    # an explicit pause_from_sync raises the same why (a NoRuntime: no runtime runs here)
    out = " ".join(res.stdout.split())
    assert "worker returned 42 (ForkedFromActor: devx.pause_from_sync() in a forked " in out
    assert "process: pid " in out and "was forked from actor 'root/kid'" in out
    assert "Traceback" not in res.stderr


def test_pdb_in_a_worker_forked_from_an_actor_says_why_no_repl_opens():
    """pdb.set_trace() and pdb.post_mortem() there skip in one line each, as breakpoint()
    (before: ForkedFromActor raised out of the worker's function, named 'devx.pdb...')."""
    res = run_script(SCRIPT, "fork-pdb")
    assert res.returncode == 0, res.stderr
    err = " ".join(res.stderr.split())  # (the line is fitted to a terminal's width)
    assert "[devx] pdb.set_trace() at forked_from_actor.py:30 in in_worker_pdb() skipped:" in err
    assert "[devx] pdb.post_mortem() at forked_from_actor.py:" in err
    assert err.count("was forked from actor 'root/kid' (pid ") == 2, res.stderr
    assert "Traceback" not in res.stderr and "ForkedFromActor" not in res.stderr
    assert "worker returned 42" in res.stdout


def test_a_pool_spawned_from_an_actor_runs_the_roots_functions():
    res = run_script(SCRIPT, "spawn")  # before: every worker failed to import __mp_main__
    assert res.returncode == 0, res.stderr
    assert "worker returned 42" in res.stdout
    assert "__mp_main__" not in res.stderr


@pytest.mark.parametrize(
    ("args", "stop", "after"),
    [
        ((), "breakpoint() at atexit_breakpoint.py:13 in at_exit() skipped: actor ", "breakpoint"),
        # pdb.set_trace(): routed through the door while the actor ran, likewise after
        (
            ("pdb",),
            "pdb.set_trace() at atexit_breakpoint.py:20 in at_exit_pdb() skipped",
            "pdb.set_trace()",
        ),
    ],
    ids=["breakpoint", "pdb.set_trace"],
)
def test_a_stop_in_a_childs_atexit_handler_opens_no_bare_pdb(args, stop, after):
    res = run_script(SCRIPTS / "atexit_breakpoint.py", *args)
    assert res.returncode == 0, res.stderr
    assert "(Pdb" not in res.stdout  # before: a plain pdb read the tree's stdin
    err = " ".join(res.stderr.split())
    assert f"[devx] {stop}" in err
    assert "'root/kid' (pid " in err and "has ended (an atexit handler" in err
    assert "Traceback" not in res.stderr
    assert res.stdout.splitlines() == ["kid registered", f"after the atexit {after}", "tree done"]
