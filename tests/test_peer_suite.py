"""What the peer project's own test suite (tractor's tests/, run against devx with a
``tractor`` shim re-exporting devx) relies on that devx lacked, through real processes."""

from __future__ import annotations

import os
from functools import partial

import pytest
import trio

import devx
import peer_suite_fns as fns
from conftest import scaled

pytestmark = pytest.mark.timeout(120)


async def _worker(an: devx.ActorNursery) -> devx.Portal:
    return await an.start_actor("worker", enable_modules=["peer_suite_fns"])


def test_context_outcome_and_maybe_error():
    """The peer's ``Context.outcome``/``maybe_error``/``has_outcome`` (its
    test_parent_cancels): the callee's return value or error, the very object
    ``result()`` gave, without waiting."""

    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(20)):
                async with portal.open_context(fns.return_early) as (ctx, _):
                    res = await ctx.result()
                assert res == "yo"
                assert ctx.has_outcome and ctx.outcome is res and ctx.maybe_error is None

                async with portal.open_context(fns.return_point) as (ctx, _):
                    point = await ctx.result()
                assert point == fns.Point(1, 2) and ctx.outcome is point

                # this side's own cancel: the acknowledgement is the outcome
                async with portal.open_context(fns.sleep_forever_ctx) as (ctx, _):
                    assert not ctx.has_outcome and ctx.outcome is ctx.maybe_error is None
                    await ctx.cancel()
                got = await ctx.result()
                assert isinstance(got, devx.ContextCancelled)
                assert ctx.has_outcome and got is ctx.maybe_error is ctx.outcome
                assert tuple(got.canceller) == devx.current_actor().aid.uid

                # the callee's error: the one raised out of the block
                with pytest.raises(devx.RemoteActorError) as info:
                    async with portal.open_context(fns.fail_after_started) as (ctx, _):
                        await trio.sleep_forever()
                assert info.value.boxed_type is ValueError
                assert ctx.maybe_error is info.value is ctx.outcome
            await portal.cancel_actor()

    trio.run(main)


def test_portal_run_by_module_and_name():
    """The peer's test_rpc: ``portal.run("module", "function")``, its older (deprecated)
    form, calls the function by name as ``run_from_ns`` does, with a
    DeprecationWarning; a remote function may still take a ``fn_name`` keyword."""

    async def main() -> tuple[list, str, str]:
        async with devx.open_nursery(enable_modules=["peer_suite_fns"]) as an:
            with trio.fail_after(scaled(30)):
                back = await an.run_in_actor(
                    fns.call_back_by_name, func_name="short_sleep", name="caller"
                )
                got = await back.result()
                portal = await _worker(an)
                with pytest.warns(DeprecationWarning, match="run_from_ns"):
                    named = await portal.run("peer_suite_fns", "echo", fn_name="x")
                kw = await portal.run(fns.echo, fn_name="y")
                with pytest.raises(TypeError, match="run_from_ns"):
                    await portal.run(fns.echo, "echo")
                # arguments by position: the call with them named, from the signature
                with pytest.raises(TypeError, match=r"by keyword only.*run\(echo, fn_name=7\)"):
                    await portal.run(fns.echo, 7)
                with pytest.raises(TypeError, match="by keyword only") as big:
                    await portal.run(fns.echo, b"x" * 1_000_000)  # (its repr: cut short)
                assert len(str(big.value)) < 400
            await portal.cancel_actor()
        return got, named, kw

    got, named, kw = trio.run(main)
    assert got == ["slept", ["DeprecationWarning"]]
    assert (named, kw) == ("x", "y")


@pytest.mark.parametrize("tpt", ["tcp", "uds"])
def test_open_root_actor_takes_enable_transports_and_hide_tb(tpt):
    """The peer's discovery daemon (its tests/discovery/conftest.py) boots with
    ``open_root_actor(registry_addrs=..., enable_transports=[proto])``: devx's
    ``transport=``, one per tree, as ``open_nursery`` takes it; ``hide_tb`` too."""

    async def main() -> tuple[list[str], str]:
        async with devx.open_root_actor(enable_transports=[tpt], hide_tb=False):
            tpts = devx.get_runtime_vars()["_enable_tpts"]
            async with devx.open_nursery() as an:
                portal = await _worker(an)
                with trio.fail_after(scaled(20)):
                    got = await portal.run(fns.short_sleep)
                await portal.cancel_actor()
        return tpts, got

    tpts, got = trio.run(main)
    assert tpts == [tpt] and got == "slept"

    async def two() -> None:
        async with devx.open_root_actor(enable_transports=["tcp", "uds"]):
            pass

    with pytest.raises(ValueError, match="one transport per tree"):
        trio.run(two)


def test_registry_read_by_the_peers_names():
    """The peer's test_registrar reads the registry as ``{"name.uuid": [addr]}``:
    ``await actor.get_registry()`` in the registrar, ``portal.run_from_ns("self",
    "get_registry")`` (and ``"find_actor"``, ``"wait_for_actor"``) on the registrar's
    portal elsewhere; ``actor.aid.uid in registry`` holds for every actor up."""

    async def main() -> tuple[dict, dict, tuple, tuple, object]:
        async with devx.open_nursery() as an:
            root = devx.current_actor()
            portal = await _worker(an)
            with trio.fail_after(scaled(30)):
                local = await root.get_registry()
                seen = await portal.run(fns.read_the_registry)
            await portal.cancel_actor()
        return local, seen, root.aid.uid, portal.chan.aid.uid, root.accept_addr

    local, seen, root_uid, worker_uid, root_addr = trio.run(main)
    uids = {tuple(key.split(".")) for key in local}
    assert root_uid in uids and worker_uid in uids
    assert {tuple(u) for u in seen["uids"]} == uids
    assert tuple(seen["me"]) == worker_uid
    [found] = seen["found"]
    assert tuple(found) == tuple(root_addr)
    assert seen["nobody"] is None
    assert len(seen["waited"]) == 1
    assert "is not the registrar" in seen["refused"] and "run_from_ns" in seen["refused"]


@pytest.mark.parametrize(
    "start_method, by_root", [("trio", True), ("mp_spawn", True), ("mp_forkserver", False)]
)
def test_start_method_is_the_spawn_method(start_method, by_root):
    """The peer's ``open_nursery(start_method=...)`` (its test_spawning passes the
    suite's backend, 'trio', this way): a fresh interpreter per actor is devx's
    subprocess (the root is the child's OS parent), its fork server devx's."""

    async def main() -> int:
        async with devx.open_nursery(start_method=start_method) as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(20)):
                ppid = await portal.run(fns.os_ppid)
            await portal.cancel_actor()
        return ppid

    assert (trio.run(main) == os.getpid()) is by_root


def test_unknown_or_contradicting_start_method_is_refused():
    async def main(**kw: str) -> None:
        async with devx.open_nursery(**kw):
            pass

    with pytest.raises(ValueError, match="'bogus' is not a spawn method"):
        trio.run(partial(main, start_method="bogus"))
    with pytest.raises(ValueError, match="disagree"):
        trio.run(partial(main, start_method="trio", spawn_method="forkserver"))

    async def root() -> None:
        async with devx.open_root_actor(start_method="bogus"):
            pass

    with pytest.raises(ValueError, match="'bogus' is not a spawn method"):
        trio.run(root)


def test_a_stream_closed_by_its_own_reader_ends_its_iteration():
    """The peer's ``MsgStream``: after this side's ``aclose()`` its ``async for`` ends
    and ``receive()`` raises ``trio.EndOfChannel`` (a StreamClosed before, which
    killed the peer's inf_streamer); ``send`` after it is still StreamClosed."""

    async def main() -> tuple[list, str]:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(20)):
                async with portal.open_context(fns.close_on_sentinel) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        for msg in (1, 2, "done"):
                            await stream.send(msg)
                        got = await ctx.result()
                    with pytest.raises(trio.EndOfChannel):
                        await stream.receive()
                    with pytest.raises(devx.StreamClosed) as info:
                        await stream.send(3)
            await portal.cancel_actor()
        return got, str(info.value)

    got, told = trio.run(main)
    assert got == [1, 2, "end"]
    assert "after it was closed here" in told


def test_open_stream_from_reads_with_receive():
    """The peer's test_advanced_streaming (test_sigint_both_stream_types):
    ``portal.open_stream_from(agen)`` gives a stream read with ``await
    stream.receive()`` (an AttributeError on devx's async generator before), ending
    with ``trio.EndOfChannel``; ``async for`` and ``anext()`` still work."""

    async def main() -> tuple[list, list]:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(20)):
                async with portal.open_stream_from(fns.count_to, n=3) as stream:
                    got = [await stream.receive(), await anext(stream)]
                    got += [i async for i in stream]
                    with pytest.raises(trio.EndOfChannel):
                        await stream.receive()
                async with portal.open_stream_from(fns.count_to, n=100) as stream:
                    early = [await stream.receive()]
                    await stream.aclose()  # ends the remote generator early
                assert await portal.run(fns.short_sleep) == "slept"  # the actor serves on
            await portal.cancel_actor()
        return got, early

    assert trio.run(main) == ([0, 1, 2], [0])


def test_actor_loglevel_is_the_level_it_was_started_with():
    """The peer's test_spawning checks ``current_actor().loglevel == level`` in a
    ``run_in_actor(..., loglevel=level)`` child."""

    async def main() -> list:
        async with devx.open_nursery(loglevel="info") as an:
            root = devx.current_actor().loglevel
            with trio.fail_after(scaled(30)):
                own = await an.run_in_actor(fns.my_loglevel, loglevel="cancel", name="own")
                inherited = await an.run_in_actor(fns.my_loglevel, name="inherited")
                got = [root, await own.result(), await inherited.result()]
        async with devx.open_nursery() as an:
            got.append(devx.current_actor().loglevel)
        return got

    assert trio.run(main) == ["info", "cancel", "info", None]


def test_portal_actor_is_the_calling_actor():
    """The peer's ``Portal.actor``: the actor calling through the portal (its own
    process's), on a child's portal and on one found by discovery."""

    async def main() -> tuple[bool, list]:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(20)):
                mine = portal.actor is devx.current_actor()
                there = await portal.run(fns.portal_actor_is_mine)
            await portal.cancel_actor()
        return mine, there

    assert trio.run(main) == (True, [True, True])


async def _outcome_arrived(ctx: devx.Context) -> None:
    """Wait, shielded from the block's cancellation, until the callee's outcome is
    here: the block then asks for it after it came (the order a race could give)."""
    with trio.CancelScope(shield=True):
        while not ctx.has_outcome:
            await trio.sleep(0.01)


def test_result_raises_the_callees_error_in_the_block():
    """The peer's test_peer_canceller: ``await ctx.result()`` inside the block raises
    the callee's error (or a cancel asked by another actor) whether it came while
    result() waited or before result() was called, so the block can catch it and
    raise its own error, which is what leaves the block. Before: trio.Cancelled in
    result() and the callee's error at the block's exit, whatever the block did."""

    async def block_catches(portal: devx.Portal, fn, before: bool, **kw) -> list:
        seen: list = []
        try:
            async with portal.open_context(fn, **kw) as (ctx, _):
                if before:
                    await _outcome_arrived(ctx)
                try:
                    await ctx.wait_for_result(hide_tb=False)
                except devx.RemoteActorError as err:  # a ContextCancelled too
                    seen.append(type(err).__name__)
                    raise RuntimeError("the block's own error") from err
        except RuntimeError as err:
            seen += [str(err), ctx.maybe_error is err.__cause__, ctx.cancelled_caught]
        return seen

    async def main() -> list:
        got: list = []
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(30)):
                for before in (False, True):
                    got.append(await block_catches(portal, fns.fail_after_started, before))
                    got.append(await block_catches(portal, fns.cancel_self, before))
                    got.append(
                        await block_catches(portal, fns.fail_after_a_while, before, delay=0.2)
                    )
                # a block waiting elsewhere is cancelled, the error raised at its exit
                with pytest.raises(devx.RemoteActorError) as info:
                    async with portal.open_context(fns.fail_after_started) as (ctx, _):
                        await trio.sleep_forever()
                got.append([info.value.boxed_type is ValueError, ctx.cancelled_caught])
            await portal.cancel_actor()
        return got

    blk = ["the block's own error", True, False]
    assert trio.run(main) == [
        ["RemoteActorError", *blk], ["ContextCancelled", *blk], ["RemoteActorError", *blk],
        ["RemoteActorError", *blk], ["ContextCancelled", *blk], ["RemoteActorError", *blk],
        [True, True],
    ]  # fmt: skip


def test_result_in_a_nursery_of_the_block_leaves_as_the_bare_error():
    """result() awaited inside a nursery opened in the block (by its tasks, or in its
    body) stays a cancellation there: the error leaves the block as the
    RemoteActorError it is, not as that nursery's ExceptionGroup holding it once per
    waiting task (review6 on f97de9c)."""

    async def case(portal: devx.Portal, tasks: int, body_waits: bool) -> str:
        try:
            async with portal.open_context(fns.fail_after_started) as (ctx, _):
                async with trio.open_nursery() as n:
                    for _ in range(tasks):
                        n.start_soon(ctx.result)
                    if body_waits:
                        await ctx.result()
                    else:
                        await trio.sleep_forever()
        except BaseException as err:
            return type(err).__name__
        return "no error"

    async def main() -> list[str]:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(30)):
                got = [await case(portal, t, b) for t, b in ((1, False), (2, False), (1, True))]
            await portal.cancel_actor()
        return got

    assert trio.run(main) == ["RemoteActorError"] * 3


def test_context_canceller_is_the_actor_whose_task_ended_it():
    """The peer's test_peer_canceller (and its examples/advanced_faults
    ipc_failure_during_stream.py): on the caller, ``ctx.canceller`` is the actor the
    callee's ContextCancelled (or error) came from, while ``ctxc.canceller`` names
    the actor that asked for the cancel; this actor's own id after its own
    ``ctx.cancel()``; on the callee, the caller whose cancel reached it."""

    async def main() -> dict:
        got: dict = {}
        async with devx.open_nursery() as an:
            me = devx.current_actor().uid
            sleeper = await an.start_actor("sleeper", enable_modules=["peer_suite_fns"])
            other = await an.start_actor("canceller", enable_modules=["peer_suite_fns"])
            worker = await _worker(an)
            with trio.fail_after(scaled(30)):
                # another actor cancels the callee's actor
                async with trio.open_nursery() as tn:
                    with pytest.raises(devx.ContextCancelled) as info:
                        async with sleeper.open_context(fns.sleep_forever_ctx) as (ctx, _):
                            tn.start_soon(
                                partial(other.run, fns.cancel_actor_named, name="sleeper")
                            )
                            await ctx.result()
                got["other"] = (ctx.canceller, info.value.canceller)
                # the callee cancels itself, or fails
                with pytest.raises(devx.ContextCancelled):
                    async with worker.open_context(fns.cancel_self) as (ctx, _):
                        await ctx.result()
                got["self"] = ctx.canceller
                with pytest.raises(devx.RemoteActorError):
                    async with worker.open_context(fns.fail_after_started) as (ctx, _):
                        await ctx.result()
                got["error"] = ctx.canceller
                # this side's own cancel, and what the callee saw
                async with worker.open_context(fns.record_canceller) as (ctx, _):
                    assert ctx.canceller is None
                    await ctx.cancel()
                got["mine"] = ctx.canceller
                got["callee saw"] = tuple(await worker.run(fns.last_canceller) or ())
                ids = {"me": me, "sleeper": sleeper.chan.aid, "canceller": other.chan.aid}
                ids["worker"] = worker.chan.aid
            await an.cancel()
        return {k: tuple(v) if isinstance(v, tuple) else v for k, v in got.items()} | {"ids": ids}

    got = trio.run(main)
    ids = got.pop("ids")
    assert got == {
        "other": (ids["sleeper"], ids["canceller"]),
        "self": ids["worker"],
        "error": ids["worker"],
        "mine": ids["me"],
        "callee saw": tuple(ids["me"]),
    }


def test_actor_is_infected_aio():
    """The peer's ``Actor.is_infected_aio()`` (its test_child_manages_service_nursery
    picks a stream by it; AttributeError before): True in an actor started with
    ``infect_asyncio=True``, False in a plain one and in the root."""

    async def main() -> list:
        async with devx.open_nursery(enable_modules=["peer_suite_fns"]) as an:
            with trio.fail_after(scaled(30)):
                aio = await an.run_in_actor(fns.am_i_infected, name="aio", infect_asyncio=True)
                plain = await an.run_in_actor(fns.am_i_infected, name="plain")
                return [
                    await aio.result(),
                    await plain.result(),
                    devx.current_actor().is_infected_aio(),
                ]

    assert trio.run(main) == [True, False, False]


def test_a_one_shot_child_serves_until_the_block_is_left():
    """The peer's first example (a_trynamic_first_scene.py, its test_trynamic_trio):
    a ``run_in_actor`` child whose function returned stays up until the nursery's
    block is left, so a sibling finding it by name afterwards reaches it. Before:
    it was stopped at its result, and the example hung or failed about half the time
    (a sibling waiting for it by name waited forever)."""

    async def main() -> list:
        async with devx.open_nursery(enable_modules=["peer_suite_fns"]) as an:
            with trio.fail_after(scaled(30)):
                early = await an.run_in_actor(fns.echo, name="early", fn_name="done")
                first = await early.result()
                late = await an.run_in_actor(fns.call_actor_named, name="late", name_="early")
                return [first, await late.result(), await early.run(fns.echo, fn_name="still")]

    assert trio.run(main) == ["done", "hello from late", "still"]


def test_a_failing_block_is_this_sides_cancel():
    """The peer's ``Context.cancel_called`` (its docstring: an explicit ``cancel()``, or
    the implicit one of an error caught in the ``open_context`` block; its
    test_peer_canceller asserts it after the block raised): a block that fails
    cancels the callee as this side's cancel, acknowledged by the callee, so
    ``cancel_called``, ``cancel_acked`` and ``canceller`` say so; a block that raised
    the callee's own ContextCancelled asked for nothing."""

    async def main() -> list:
        got: list = []
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            me = devx.current_actor().uid
            with trio.fail_after(scaled(30)):
                with pytest.raises(RuntimeError):
                    async with portal.open_context(fns.sleep_forever_ctx) as (ctx, _):
                        assert not ctx.cancel_called
                        raise RuntimeError("the block fails")
                got.append([ctx.cancel_called, ctx.cancel_acked, ctx.canceller == me])
                with pytest.raises(devx.ContextCancelled):
                    async with portal.open_context(fns.cancel_self) as (ctx, _):
                        await ctx.result()
                got.append([ctx.cancel_called, ctx.cancel_acked, ctx.canceller == me])
            await portal.cancel_actor()
        return got

    assert trio.run(main) == [[True, True, True], [False, False, False]]


def test_started_validate_pld_spec():
    """The peer's ``ctx.started(value, validate_pld_spec=...)`` (its test_pldrx_limiting
    passes it; a TypeError before): by default a value outside the pld_spec is refused
    where it is sent (the callee then sends a good one); with ``False`` it is sent and
    the caller's ``open_context`` raises the MsgTypeError."""

    async def main() -> list:
        got: list = []
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(30)):
                async with portal.open_context(fns.start_off_spec, validate=True) as (ctx, first):
                    got.append([first, await ctx.result()])
                with pytest.raises(devx.MsgTypeError, match="pld_spec"):
                    async with portal.open_context(fns.start_off_spec, validate=False):
                        pass
                got.append("refused by the caller")
            await portal.cancel_actor()
        return got

    assert trio.run(main) == [[10, 0], "refused by the caller"]


def test_broadcast_receiver_over_any_channel():
    """The peer's ``trionics.broadcast_receiver(recv_chan, max_buffer_size)`` (its
    test_child_manages_service_nursery shares an asyncio channel this way; ImportError
    before): several tasks each get every item of one receive channel."""

    async def main() -> list:
        async with devx.open_nursery(enable_modules=["peer_suite_fns"]) as an:
            with trio.fail_after(scaled(30)):
                portal = await an.run_in_actor(
                    fns.broadcast_from_asyncio, name="aio", n=5, infect_asyncio=True
                )
                return await portal.result()

    assert trio.run(main) == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("raise_on_lag", [True, False])
def test_broadcast_receiver_lag(raise_on_lag):
    """A subscriber that falls more than ``max_buffer_size`` behind: ``Lagged``, or
    (``raise_on_lag=False``, the peer's option) the oldest item still buffered."""

    async def main() -> list:
        send, recv = trio.open_memory_channel[int](10)
        for i in range(5):
            send.send_nowait(i)
        async with devx.trionics.broadcast_receiver(recv, 2, raise_on_lag=raise_on_lag) as fast:
            async with fast.subscribe() as slow:
                seen = [await fast.receive() for _ in range(5)]
                try:
                    seen.append(await slow.receive())
                except devx.trionics.Lagged:
                    seen.append("lagged")
        return seen

    assert trio.run(main) == [0, 1, 2, 3, 4, "lagged" if raise_on_lag else 3]


def test_broadcast_subscribe_takes_its_own_raise_on_lag_and_refuses_when_closed(caplog):
    """The peer's test_no_raise_on_lag and test_subscribe_errors_after_close:
    ``subscribe(raise_on_lag=False)`` makes that subscriber alone skip what it lost
    (with a warning) while its sibling gets ``Lagged``; ``subscribe()`` on a closed
    receiver raises ``trio.ClosedResourceError`` saying so."""

    async def main() -> list:
        send, recv = trio.open_memory_channel[int](10)
        for i in range(5):
            send.send_nowait(i)
        async with devx.trionics.broadcast_receiver(recv, 2) as fast:
            async with fast.subscribe(raise_on_lag=False) as slow, fast.subscribe() as strict:
                seen: list = [await fast.receive() for _ in range(5)]
                seen.append(await slow.receive())
                try:
                    seen.append(await strict.receive())
                except devx.trionics.Lagged:
                    seen.append("lagged")
        with pytest.raises(trio.ClosedResourceError, match=r"subscribe\(\) on a closed subscriber"):
            async with fast.subscribe():
                pass
        return seen

    assert trio.run(main) == [0, 1, 2, 3, 4, 3, "lagged"]
    assert "fell behind: 3 items were dropped" in caplog.text


def test_a_child_that_lost_its_channel_says_so():
    """A child whose channel to its parent breaks ends itself (exit code 0); the
    parent's context with it raises ActorExited saying that it ended by itself while
    calls were open and that its channel closed first, not a bare 'exited with code 0'
    that read like a normal end (the peer's test_advanced_faults break_ipc cases)."""

    async def main() -> str:
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with trio.fail_after(scaled(30)):
                with pytest.raises(devx.ActorExited) as info:
                    async with portal.open_context(fns.break_own_parent_channel) as (ctx, _):
                        await ctx.result()
            return str(info.value)

    got = trio.run(main)
    assert "'root/worker'" in got and "exit code 0" in got
    assert "channel to this actor closed first" in got
