"""The peer project's ``get_runtime_vars()`` and ``hard_kill`` (``ActorNursery.cancel``,
``Portal.cancel_actor``, ``open_actor_cluster``), through real actor processes."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio

import devx
import peer_api_fns
from conftest import scaled

pytestmark = pytest.mark.timeout(180)


# --- get_runtime_vars -------------------------------------------------------------------


def _plain(addr: Any) -> Any:
    return addr if isinstance(addr, str) else list(addr)


def test_runtime_vars_of_a_root_its_children_and_no_runtime():
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {"before": devx.get_runtime_vars()}
        async with devx.open_root_actor(debug_mode=True, enable_stack_on_sig=True) as root:
            seen["root"] = devx.get_runtime_vars()
            seen["root_struct"] = devx.get_runtime_vars(as_dict=False)
            seen["cleared"] = devx.get_runtime_vars(clear_values=True)
            seen["listen"] = root.listen_addr
            async with devx.open_nursery() as an:
                plain = await an.start_actor("plain", enable_modules=["peer_api_fns"])
                aio = await an.start_actor(
                    "aio", enable_modules=["peer_api_fns"], infect_asyncio=True
                )
                with trio.fail_after(scaled(20)):
                    seen["child"] = await plain.run(peer_api_fns.runtime_vars)
                    seen["aio"] = await aio.run(peer_api_fns.async_runtime_vars)
        seen["after"] = devx.get_runtime_vars()
        return seen

    seen = trio.run(main)
    defaults = {
        "_is_root": False,
        "_root_mailbox": (None, None),
        "_root_addrs": [],
        "_enable_tpts": ["tcp"],
        "_registry_addrs": [],
        "_debug_mode": False,
        "repl_fixture": False,
        "use_greenback": False,
        "use_stackscope": False,
        "_is_infected_aio": False,
    }
    assert seen["before"] == seen["after"] == seen["cleared"] == defaults
    listen = seen["listen"]
    root = seen["root"]
    assert root == {
        **defaults,
        "_is_root": True,
        "_root_mailbox": listen,
        "_root_addrs": [listen],
        "_registry_addrs": [listen],  # a root without registry_addrs is the registrar
        "_debug_mode": True,
        "use_greenback": True,
        "use_stackscope": True,
    }
    assert isinstance(seen["root_struct"], devx.RuntimeVars)
    assert seen["root_struct"]._root_mailbox == listen and seen["root_struct"]._is_root
    child = seen["child"]  # over the wire: tuples arrive as lists
    assert child["_is_root"] is False and child["_debug_mode"] is True
    assert child["_root_mailbox"] == list(listen) and child["_registry_addrs"] == [list(listen)]
    assert child["_is_infected_aio"] is False
    assert seen["aio"]["_is_infected_aio"] is True


def test_runtime_vars_over_unix_sockets():
    async def main() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        async with devx.open_nursery(transport="uds") as an:
            root = devx.get_runtime_vars()
            portal = await an.start_actor("kid", enable_modules=["peer_api_fns"])
            with trio.fail_after(scaled(20)):
                child = await portal.run(peer_api_fns.runtime_vars)
            return devx.current_actor().listen_addr, root, child

    listen, root, child = trio.run(main)
    assert isinstance(listen, str)  # a socket path
    assert root["_root_mailbox"] == child["_root_mailbox"] == listen
    assert root["_enable_tpts"] == child["_enable_tpts"] == ["uds"]


# --- hard_kill ----------------------------------------------------------------------------
# Each child blocks its loop in sync code, so a graceful cancel never gets through; the
# grace is longer than the bound on each kill, so a kill that waited for it fails.
KILL_BOUND = scaled(10)


@pytest.fixture
def long_grace(monkeypatch):
    """A grace twice as long as any hard kill here may take (so a kill that waited for
    it fails the test, which then still ends in its time limit)."""
    monkeypatch.setenv("DEVX_CANCEL_GRACE", str(2 * KILL_BOUND))


async def _call(portal: devx.Portal, fn: Any, seen: list[str], kwargs: dict[str, Any]) -> None:
    """Call ``fn`` and record how the call ended (a hard-killed actor's calls end
    with ChannelClosed saying it was cancelled)."""
    try:
        await portal.run(fn, **kwargs)
        seen.append("returned")
    except devx.ChannelClosed as exc:
        seen.append(str(exc))


async def _within_kill_bound(fn: Any, *args: Any) -> Any:
    """``await fn(*args)`` in a task of its own, waited for here at most ``KILL_BOUND``
    (a kill shields its own wait: a bound directly around it would never fire)."""
    result: list[Any] = []
    done = trio.Event()

    async def run() -> None:
        result.append(await fn(*args))
        done.set()

    async with trio.open_nursery() as n:
        n.start_soon(run)
        with trio.fail_after(KILL_BOUND):
            await done.wait()
    return result[0]


async def _flagged(path: Any) -> int:
    from conftest import await_until

    await await_until(path.exists, scaled(20), f"{path.name} to be written")
    await await_until(path.read_text, scaled(5), f"{path.name} to be filled")
    return int(path.read_text())


def test_nursery_hard_kill_kills_children_blocked_in_sync_code(tmp_path, long_grace):
    """``an.cancel(hard_kill=True)``: SIGKILLs a ``start_actor`` child and a
    ``run_in_actor`` child, both blocked in sync code, without waiting for the grace;
    neither is an error of the nursery, the one-shot child's result says it was
    cancelled."""

    async def main() -> tuple[list[int | None], list[str], str]:
        seen: list[str] = []
        async with devx.open_nursery() as an:
            kept = await an.start_actor("kept", enable_modules=["peer_api_fns"])
            one_shot = await an.run_in_actor(
                peer_api_fns.block_the_loop, name="one_shot", flag=str(tmp_path / "one_shot")
            )
            async with trio.open_nursery() as tn:
                tn.start_soon(
                    _call, kept, peer_api_fns.block_the_loop, seen, {"flag": str(tmp_path / "kept")}
                )
                await _flagged(tmp_path / "kept")
                await _flagged(tmp_path / "one_shot")
                records = list(an.children)
                await _within_kill_bound(partial(an.cancel, hard_kill=True))
        # (the body is cancelled once an.cancel() returns: the result is read after it)
        with pytest.raises(devx.ChannelClosed) as info:
            await one_shot.result()
        return [rec.exit_code for rec in records], seen, str(info.value)

    codes, seen, result = trio.run(main)
    assert codes == [-9, -9]  # SIGKILL, nothing asked first
    # the call in flight ends saying so (unless the body's cancel reached it first)
    assert all(
        s.startswith("actor 'root/kept' (pid ") and s.endswith("was cancelled and killed (SIGKILL)")
        for s in seen
    )
    assert "'root/one_shot'" in result and "was cancelled" in result, result


def test_portal_cancel_actor_hard_kill_kills_one_child(tmp_path, long_grace):
    """``portal.cancel_actor(hard_kill=True)`` SIGKILLs that child only (returns False:
    not a graceful exit); its sibling keeps serving and the block ends normally."""

    async def main() -> tuple[bool, int | None, int]:
        seen: list[str] = []
        async with devx.open_nursery() as an:
            blocked = await an.start_actor("blocked", enable_modules=["peer_api_fns"])
            other = await an.start_actor("other", enable_modules=["peer_api_fns"])
            async with trio.open_nursery() as tn:
                tn.start_soon(
                    _call, blocked, peer_api_fns.block_the_loop, seen, {"flag": str(tmp_path / "f")}
                )
                await _flagged(tmp_path / "f")
                (rec,) = [r for r in an.children if r.name == "blocked"]
                graceful = await _within_kill_bound(partial(blocked.cancel_actor, hard_kill=True))
            with trio.fail_after(KILL_BOUND):
                pid = await other.run(peer_api_fns.my_pid)
        return graceful, rec.exit_code, pid

    graceful, code, pid = trio.run(main)
    assert graceful is False and code == -9 and pid > 0


def test_hard_kill_of_a_portal_to_a_non_child_is_refused():
    async def main() -> None:
        async with devx.open_nursery() as an:
            await an.start_actor("svc", enable_modules=["peer_api_fns"])
            async with devx.find_actor("svc") as found:
                assert found is not None
                with pytest.raises(ValueError, match="not a child of this actor"):
                    await found.cancel_actor(hard_kill=True)

    trio.run(main)


def test_a_hard_killed_childs_own_children_stop_by_themselves(tmp_path):
    """The killed child cannot stop its children: each sees its parent gone and stops
    itself (no orphan)."""
    from conftest import wait_gone

    async def main() -> int:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("middle", enable_modules=["peer_api_fns"])
            async with trio.open_nursery() as tn:
                seen: list[str] = []
                tn.start_soon(
                    _call,
                    portal,
                    peer_api_fns.parent_of_an_idle_child,
                    seen,
                    {"flag": str(tmp_path / "g")},
                )
                grandchild = await _flagged(tmp_path / "g")
                await portal.cancel_actor(hard_kill=True)
        return grandchild

    grandchild = trio.run(main)
    assert not wait_gone({grandchild}, scaled(10)), "the grandchild outlived its killed parent"


def test_actor_cluster_hard_kill(tmp_path, long_grace):
    """``open_actor_cluster(hard_kill=True)``: the block's end kills its workers at once
    (each blocked in sync code here)."""

    async def main() -> list[str]:
        seen: list[str] = []
        all_blocked, leave, gone = trio.Event(), trio.Event(), trio.Event()

        async def cluster(outer: trio.Nursery) -> None:
            async with devx.open_actor_cluster(
                modules=["peer_api_fns"], count=2, hard_kill=True
            ) as portals:
                for i, portal in enumerate(portals.values()):
                    flag = {"flag": str(tmp_path / f"w{i}")}
                    outer.start_soon(_call, portal, peer_api_fns.block_the_loop, seen, flag)
                for i in range(2):
                    await _flagged(tmp_path / f"w{i}")
                all_blocked.set()
                await leave.wait()
            gone.set()

        async with trio.open_nursery() as outer:
            outer.start_soon(cluster, outer)
            with trio.fail_after(scaled(30)):
                await all_blocked.wait()
            leave.set()
            with trio.fail_after(KILL_BOUND):
                await gone.wait()
        return seen

    seen = trio.run(main)
    assert len(seen) == 2 and all("was cancelled" in s for s in seen), seen
