"""Programs written for the peer runtime (tractor) run unchanged: the semantics its
users rely on, each through real processes (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

import devx
import peer_fns
from _pty import banner, repl_fixture
from conftest import devx_actor_pids

pytestmark = pytest.mark.timeout(90)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"


# --- 1. every failing run_in_actor child's error is collected -------------------------


@pytest.mark.parametrize("n", [3, 8])
def test_errors_of_all_failing_one_shot_children_are_collected(n):
    """Each child fails at once (a bare ``assert 0``), while the block is still
    spawning the next one: the nursery raises one group holding every child's error."""
    pids_before = devx_actor_pids()

    async def main():
        async with devx.open_nursery() as an:
            for i in range(n):
                await an.run_in_actor(peer_fns.assert_err, name=f"errorer{i}")

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    errors = info.value.exceptions
    assert len(errors) == n
    assert all(isinstance(e, devx.RemoteActorError) for e in errors)
    assert all(e.boxed_type is AssertionError for e in errors)
    assert sorted(e.src_path for e in errors) == sorted(f"root/errorer{i}" for i in range(n))
    assert not devx_actor_pids() - pids_before


def test_a_failed_one_shot_child_does_not_cancel_its_running_sibling(tmp_path):
    """The block catches the first child's error from ``portal.result()`` and lets the
    second fail afterwards: both errors are raised at the block's end."""
    go = tmp_path / "go"

    async def main():
        async with devx.open_nursery() as an:
            first = await an.run_in_actor(peer_fns.assert_err, name="first")
            await an.run_in_actor(peer_fns.assert_err_once, name="second", go=str(go))
            with pytest.raises(devx.RemoteActorError):
                await first.result()
            go.touch()  # the second fails only now, well after the first

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert [e.src_path for e in info.value.exceptions] == ["root/first", "root/second"]


def test_one_shot_failure_cancels_daemons_and_the_block_once_no_one_shot_runs():
    """Daemon children sit idle while one-shot children fail: every one-shot error is
    raised, the block's wait on a daemon is cancelled, the daemons are gone."""
    pids: list[int] = []

    async def main():
        async with devx.open_nursery() as an:
            daemons = [
                await an.start_actor(f"daemon{i}", enable_modules=["peer_fns"]) for i in range(2)
            ]
            for i in range(2):
                await an.run_in_actor(peer_fns.assert_err, name=f"actor{i}")
            pids.extend(d.chan.peer_pid for d in daemons)
            await daemons[0].run(peer_fns.sleep_forever)

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert sorted(e.src_path for e in info.value.exceptions) == ["root/actor0", "root/actor1"]
    assert pids and not set(pids) & devx_actor_pids()


# --- 2. ActorNursery.cancel_called ----------------------------------------------------


def test_cancel_called_after_an_outer_cancel_scope():
    async def main():
        with trio.move_on_after(0.5) as scope:  # fires while the block waits forever
            async with devx.open_nursery() as an:
                portal = await an.start_actor("sleeper", enable_modules=["peer_fns"])
                await portal.run(peer_fns.sleep_forever)
        assert scope.cancelled_caught
        return an

    an = trio.run(main)
    assert an.cancel_called is True
    assert not an.children


def test_cancel_called_after_a_daemon_childs_error():
    async def main():
        an = None
        try:
            async with devx.open_nursery() as an:
                portal = await an.start_actor("daemon", enable_modules=["peer_fns"])
                await portal.run(peer_fns.assert_err)
        except devx.RemoteActorError as err:
            assert err.boxed_type is AssertionError
        return an

    an = trio.run(main)
    assert an.cancel_called is True


def test_cancel_called_stays_false_while_nothing_was_cancelled():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.run_in_actor(peer_fns.do_nothing, name="quick")
            assert await portal.result() is None
            assert an.cancel_called is False

    trio.run(main)


repl = repl_fixture(EXAMPLES)


def test_debug_mode_each_failing_child_gets_its_crash_repl_then_all_are_raised(repl):
    """Three one-shot children fail at once: three crash REPLs, one at a time, each at
    its own raising frame; then the root's on the group; the program raises all three."""
    r = repl("several_crashes.py")
    seen = []
    for _ in range(3):
        m = r.expect(r">>> devx CRASH in actor '(checker\d)' \(path root/checker\d, pid \d+\)")
        name = m.group(1)
        seen.append(name)
        out = r.prompt()
        assert "several_crashes.py" in out and "assert n == expected" in out
        n = int(name.removeprefix("checker"))
        assert r.cmd("p n, expected").strip().endswith(f"({n}, {n + 1})")
        assert "check(" in r.cmd("w")
        r.assert_quiet()  # no other actor's banner while this REPL is live
        r.child.sendline("c")
    assert sorted(seen) == ["checker0", "checker1", "checker2"]
    r.expect(banner("CRASH", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.expect("3 errors in an actor nursery")
    assert r.finish() != 0
