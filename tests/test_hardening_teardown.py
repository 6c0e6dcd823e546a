"""Hardening (issue 13), teardown: a ctrl-c storm ends the tree like one ctrl-c,
escalation comes at the grace (not twice it), idle children stop fast."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import trio

import devx
import hardening_fns as hf
from conftest import devx_actor_pids, run_script, scaled, wait_gone
from devx.telemetry.readback import load_spans

pytestmark = pytest.mark.timeout(120)

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.mark.parametrize("sigints", [1, 20])
def test_ctrl_c_storm_ends_the_tree_like_one_ctrl_c(tmp_path, sigints, proc_tree):
    """ctrl-c N times at 50 ms (to the whole process group, as a terminal does) with
    no REPL anywhere: one clean KeyboardInterrupt, the telemetry of every actor
    flushed and announced, nothing left running."""
    trace = tmp_path / "storm.otlp.jsonl"
    before = devx_actor_pids()
    tree = proc_tree(SCRIPTS / "sigint_tree.py", DEVX_TELEMETRY_FILE=str(trace))
    root, *pids = tree.pids()
    assert set(pids) == devx_actor_pids() - before and len(pids) == 4
    for _ in range(sigints):
        try:
            os.killpg(root, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.05)  # the storm's pace, not a synchronisation
    _out, err = tree.communicate(timeout=scaled(10))
    assert not wait_gone(set(pids)), "children outlived the ctrl-c"
    assert tree.returncode == -signal.SIGINT, err
    assert err.count("Traceback (most recent call last)") == 1, err
    assert "ExceptionGroup" not in err and "sub-exception" not in err, err
    assert err.rstrip().endswith("\nKeyboardInterrupt"), err
    assert err.count(f"devx: telemetry written to {trace}") == 1, err
    actors = {
        s["attributes"].get("devx.actor.path")
        for s in load_spans(trace)
        if s["name"] == "devx.actor"
    }
    assert actors == {"root", "root/a", "root/b", "root/c", "root/c/gc0"}, actors


def test_ctrl_c_works_again_after_a_caught_interrupt(proc_tree):
    """A program that catches the interrupt of a tree stopped by ctrl-c and goes on:
    ctrl-c interrupts its sync code, then stops a second tree like the first (one
    traceback, the child gone), nothing dropped or left running. (One ctrl-c, not a
    storm: on a loaded machine a storm's later signals can land on a helper thread of
    trio's and be handled long after; the storm test covers storms.)"""
    tree = proc_tree(SCRIPTS / "interrupt_then_again.py")
    first = int(tree.line("FIRST READY").split()[2])
    os.killpg(tree.pid, signal.SIGINT)
    tree.line("FIRST INTERRUPTED")
    assert not wait_gone({first}), "the first tree's child outlived the ctrl-c"
    tree.line("SYNC READY")
    os.killpg(tree.pid, signal.SIGINT)
    tree.line("SYNC INTERRUPTED")
    second = int(tree.line("SECOND READY").split()[2])
    os.killpg(tree.pid, signal.SIGINT)
    _out, err = tree.communicate(timeout=scaled(10))
    assert not wait_gone({second}), "the second tree's child outlived the ctrl-c"
    assert tree.returncode == -signal.SIGINT, err
    assert err.count("Traceback (most recent call last)") == 1, err
    assert "abandoned" not in err and "ExceptionGroup" not in err, err
    assert err.rstrip().endswith("\nKeyboardInterrupt"), err


def _stubborn_exit(grace: float) -> tuple[int, float, str]:
    proc = run_script(
        SCRIPTS / "stubborn_exit.py",
        timeout=scaled(10) + grace,
        DEVX_CANCEL_GRACE=str(grace),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    return int(lines["STUBBORN"]), float(lines["EXITED"]), proc.stderr


def test_escalation_comes_at_the_grace():
    """A child that ignores the nursery's cancel is SIGTERMed DEVX_CANCEL_GRACE
    seconds after the cancel: not before, and not twice the grace later."""
    grace = 2.0
    pid, took, err = _stubborn_exit(grace)
    assert f"actor 'root/stubborn' (pid {pid}) still running {grace}s after cancel" in err
    assert grace - 0.05 <= took < grace + scaled(0.4), took


def test_cancel_actor_escalates_at_the_grace():
    """portal.cancel_actor() on a child that ignores it: SIGTERM at the grace."""
    grace = 2.0
    proc = run_script(
        SCRIPTS / "stubborn_child.py",
        "shielded",
        timeout=scaled(10) + grace,
        DEVX_CANCEL_GRACE=str(grace),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (outcome,) = [x for x in proc.stdout.splitlines() if x.startswith("root: graceful=")]
    took = float(outcome.split(" after ")[1].removesuffix(" s"))
    assert grace - 0.05 <= took < grace + scaled(0.4), took


def test_idle_children_stop_fast_and_gracefully(devx_log):
    """16 idle children (telemetry on) stop gracefully on an.cancel(): each exits by
    itself (code 0), none is SIGTERMed. (How fast, under half a second on an idle
    machine: the "idle-cancel" row of `make stress`; no speed claim here.)"""

    async def main():
        async with devx.open_nursery() as an:
            portals = [
                await an.start_actor(f"w{i}", enable_modules=["hardening_fns"]) for i in range(16)
            ]
            for p in portals:
                await p.run(hf.my_pid)
            records = [p._child for p in portals]
            await an.cancel()
            return [r.exit_code for r in records]

    codes = trio.run(main)
    assert codes == [0] * 16, codes
    assert not [m for m in devx_log if "SIGTERM" in m], devx_log
