"""Faults round 2 (issue 24) through real processes: no input kills an actor,
strangers never block the tree, every stream is bounded, deaths nobody asked for
are reported."""

from __future__ import annotations

import os

import pytest
import trio

import devx
import faults_fns as ff
from devx.core.settings import Settings
from devx.runtime.actor import MAX_PREAUTH_PENDING
from stranger import NOBODY, Stranger

pytestmark = pytest.mark.timeout(120)


# --- no input kills an actor ------------------------------------------------------------


@pytest.mark.parametrize("fn", [ff.raise_bad_str, ff.raise_bad_str_async])
def test_exception_whose_str_raises_is_boxed(fn):
    """The caller gets a RemoteActorError naming the type; the actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fn)
            assert await portal.run(ff.my_pid) == pid  # still serving, same process
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "faults_fns.BadStr"
    assert "its __str__ raised RuntimeError" in str(err)


def test_error_too_big_for_a_frame_is_truncated():
    """An error whose text would not fit a frame comes back cut, saying so; the
    actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(ff.raise_huge)
            assert await portal.run(ff.my_pid) == pid
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "builtins.ValueError"
    assert "[message truncated: " in err.info.message
    assert f"{ff.BIG_ERROR} characters" in err.info.message
    assert len(err.info.message) < ff.BIG_ERROR // 10


# --- strangers cannot block the tree ----------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another uid needs root (as in CI)")
@pytest.mark.parametrize("spawn_method", ["subprocess", "forkserver"])
def test_strangers_holding_every_preauth_place_cannot_stop_the_tree(spawn_method):
    """Another local user holds 3x the pre-authentication places with idle
    connections and renews each one closed: children still start (their channel is
    inherited, not accepted), and a grandchild's own connection to the root gets
    through the listener (the oldest stranger makes room)."""
    n = 3 * MAX_PREAUTH_PENDING
    stranger = Stranger(n, renew_after=0.75 * Settings().preauth_timeout)

    async def main():
        async with devx.open_nursery(
            enable_modules=["faults_fns"], spawn_method=spawn_method
        ) as an:
            addr = devx.current_actor().listen_addr
            ready = await stranger.attack(addr)
            assert ready == f"READY {NOBODY} {n}"
            try:
                portals = [
                    await an.start_actor(f"w{i}", enable_modules=["faults_fns"]) for i in range(3)
                ]
                pids = {await p.run(ff.my_pid) for p in portals}
                root_pid = await portals[0].run(ff.spawn_and_ask_root)
            finally:
                report = await stranger.stop()
            return ready, pids, root_pid, report

    ready, pids, root_pid, report = trio.run(main)
    assert ready == f"READY {NOBODY} {n}"
    assert len(pids) == 3 and os.getpid() not in pids
    assert root_pid == os.getpid()
    # the stranger held its connections all along (renewing those the root dropped)
    renewed, still_open = int(report.split()[1]), int(report.split()[3])
    assert still_open == n and renewed >= n - MAX_PREAUTH_PENDING, report
