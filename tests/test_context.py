"""Contexts (``@devx.context``, ``Portal.open_context``) through real processes."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

import ctx_fns
import devx
import fns
from conftest import await_until, run_script, scaled
from devx.core import settings

pytestmark = pytest.mark.timeout(60)

ENABLE = ["ctx_fns"]


def run(fn, *args):
    return trio.run(fn, *args)


async def _wait_state(portal, pred):
    """Poll the producer's state in the child (through real calls) until ``pred``."""

    async def matching() -> dict | None:
        state = await portal.run(ctx_fns.produced)
        return state if pred(state) else None

    return await await_until(matching, scaled(5), "the producer's state")


def test_echo_round_trip_and_result():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=[*ENABLE, "fns"])
            async with portal.open_context(ctx_fns.echo, n=21) as (ctx, first):
                assert first == 42
                assert ctx.side == "caller" and not ctx.cancel_called
                # the channel's peer id is the callee actor's own (asked in the child)
                me = await portal.run(fns.whoami)
                assert ctx.chan.aid.uid == ("worker", me["uuid"])
                async with ctx.open_stream() as stream:
                    for i in range(5):
                        await stream.send(i)
                        assert await stream.receive() == i + 1
                assert await ctx.result() == "done"
                assert await ctx.wait_for_result() == "done"
            # the actor stays usable; a context with no stream returns through the exit
            async with portal.open_context(ctx_fns.just_return, value=7) as (ctx, first):
                assert first == 7
            assert await ctx.result() == 8
            await portal.cancel_actor()

    run(main)


def test_callee_error_before_started_raises_at_entry():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            entered = False
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.fail_before_started):
                    entered = True
            assert not entered
            err = info.value
            assert err.boxed_type is ctx_fns.CtxBoom
            assert "before started" in str(err) and "fail_before_started" in err.tb_str
            assert err.src_path == "root/worker"
            await portal.cancel_actor()

    run(main)


def test_callee_error_after_started_cancels_the_block():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            reached = []
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.fail_after_started) as (ctx, first):
                    assert first == "ok"
                    await trio.sleep_forever()  # cancelled by the callee's error
                    reached.append(1)
            assert not reached
            assert info.value.boxed_type is ctx_fns.CtxBoom
            assert "after started" in str(info.value)
            # an error while the caller waits on the stream
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.fail_on_message) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        await stream.send("hi")
                        await stream.receive()
            assert info.value.boxed_type is ctx_fns.CtxBoom
            assert "got hi" in str(info.value)
            assert await portal.run(ctx_fns.not_a_context, x=3) == 3
            await portal.cancel_actor()

    run(main)


def test_caller_error_cancels_callee_and_is_raised(tmp_path):
    marker = tmp_path / "m"

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            with pytest.raises(ZeroDivisionError):
                async with portal.open_context(ctx_fns.stream_forever, marker=str(marker)) as (
                    ctx,
                    _,
                ):
                    async with ctx.open_stream() as stream:
                        await stream.send(1)
                        assert await stream.receive() == 1
                        raise ZeroDivisionError("caller block")
            # the exit waited for the callee to finish: it saw trio.Cancelled
            assert marker.read_text() == "cancelled"
            assert await portal.run(ctx_fns.not_a_context, x=1) == 1
            await portal.cancel_actor()

    run(main)


def test_caller_ctx_cancel_exits_quietly(tmp_path):
    marker = tmp_path / "m"

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.wait_forever, marker=str(marker)) as (ctx, _):
                await ctx.cancel()
                assert ctx.cancel_called
                await trio.sleep_forever()  # the cancel ends the block
            assert marker.read_text() == "cancelled"
            assert ctx.cancelled_caught
            # an outer cancellation of the caller also cancels the callee: cancelled
            # once the callee is known to run (it called started()), the block's exit
            # waits for it to see trio.Cancelled
            marker.unlink()
            with trio.CancelScope() as cs:
                async with portal.open_context(ctx_fns.wait_forever, marker=str(marker)):
                    cs.cancel()
                    await trio.sleep_forever()
            assert cs.cancelled_caught
            assert marker.read_text() == "cancelled"
            # a deadline that fires before the callee answers leaves nothing behind
            marker.unlink()
            with trio.move_on_after(0) as cs:
                async with portal.open_context(ctx_fns.wait_forever, marker=str(marker)):
                    await trio.sleep_forever()
            assert cs.cancelled_caught
            assert not devx.current_actor().contexts and not portal.calls.pending
            assert await portal.run(ctx_fns.not_a_context, x=2) == 2
            await portal.cancel_actor()

    run(main)


def test_third_party_cancel_is_context_cancelled_naming_canceller(tmp_path):
    marker = tmp_path / "m"

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            me = devx.current_actor()
            # the callee's actor is cancelled by someone else than the context (a
            # sibling task of the caller here; `an.cancel()` from the caller's own
            # nursery would cancel the caller's block too, and that cancel wins)
            async with trio.open_nursery() as tn:
                with pytest.raises(devx.ContextCancelled) as info:
                    async with portal.open_context(ctx_fns.wait_forever, marker=str(marker)):
                        tn.start_soon(portal.cancel_actor)
                        await trio.sleep_forever()
            err = info.value
            # the peer's comparison holds; the text is still name@uuid8
            assert err.canceller == me.uid and isinstance(err.canceller, devx.ActorID)
            assert str(err.canceller) == f"{me.uid.name}@{me.uid.uuid[:8]}"
            # and it reads as the peer's (name, uuid) tuple
            assert "root" in err.canceller and err.canceller[0] == "root"
            assert tuple(err.canceller) == me.uid.uid
            # the peer's newer spelling: an id equals and hashes as its (name, uuid)
            assert err.canceller == me.aid.uid and err.canceller in {me.aid.uid: 1}
            assert err.canceller != ("root", "0" * 32)
            assert str(me.uid) in str(err) and "root/worker" in str(err)
            assert marker.read_text() == "cancelled"

    run(main)


def test_not_enabled_module_and_undecorated_fail_at_entry():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=["fns"])
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.echo, n=1):
                    pytest.fail("entered")
            assert info.value.boxed_type is devx.ModuleNotEnabled
            assert "ctx_fns" in str(info.value) and "enable_modules" in str(info.value)
            with pytest.raises(devx.ContextError, match=r"not a @devx\.context function"):
                async with portal.open_context(ctx_fns.undecorated, x=1):
                    pytest.fail("entered")
            assert await portal.run(fns.add, a=1, b=2) == 3  # still usable
            await portal.cancel_actor()
            portal = await an.start_actor("worker2", enable_modules=ENABLE)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(ctx_fns.echo, n=1)
            assert info.value.boxed_type is devx.ContextError
            assert "open_context" in str(info.value)
            await portal.cancel_actor()

    run(main)


def test_open_stream_from_on_a_function_that_is_no_async_generator_is_refused_at_the_call():
    """A context function or a plain function given to ``open_stream_from``: a
    TypeError at the call saying what to use, nothing sent. Before, the callee's
    refusal (worded for portal.run) reached only a block that read the stream: one
    that left without reading lost it and the call looked fine."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=["ctx_fns", "fns"])
            for fn, says in [
                (ctx_fns.just_return, r"just_return\): it is a @devx\.context.*open_context"),
                (ctx_fns.not_a_context, r"not_a_context\): not an async generator.*portal\.run"),
            ]:
                with pytest.raises(TypeError, match=says):
                    async with portal.open_stream_from(fn, value=1):
                        pass
            assert not portal.calls.pending
            assert await portal.run(fns.add, a=1, b=2) == 3  # still usable
            await portal.cancel_actor()

    run(main)


def test_misuse_errors_on_the_side_that_made_them():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            # callee: started twice
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.started_twice) as (ctx, first):
                    assert first == 1
                    await ctx.result()
            assert info.value.boxed_type is devx.ContextError
            assert "started() called twice" in str(info.value)
            # callee: stream before started
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.stream_before_started):
                    pass
            assert info.value.boxed_type is devx.ContextError
            assert "before started()" in str(info.value)
            # callee: send after its stream closed
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(ctx_fns.send_after_close) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        assert await stream.receive() == 1
                        await ctx.result()
            assert info.value.boxed_type is devx.StreamClosed
            assert "after it was closed here" in str(info.value)
            # caller: its own mistakes are raised locally, the callee is cancelled
            async with portal.open_context(ctx_fns.caller_sends_then_closes) as (ctx, _):
                with pytest.raises(devx.ContextError, match="only the callee"):
                    await ctx.started()
                async with ctx.open_stream() as stream:
                    await stream.send("a")
                    with pytest.raises(devx.ContextError, match="called twice"):
                        async with ctx.open_stream():
                            pass
                with pytest.raises(devx.StreamClosed, match="after it was closed here"):
                    await stream.send("b")
                # re-opening it: what programs catch as trio.ClosedResourceError
                with pytest.raises(devx.StreamClosed, match="closed already"):
                    async with ctx.open_stream():
                        pass
                assert await ctx.result() == ["a"]
            await portal.cancel_actor()

    run(main)


def test_close_from_either_side_ends_peer_iteration():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.callee_closes, n=3) as (ctx, _):
                async with ctx.open_stream() as stream:
                    got = [x async for x in stream]
                assert got == [0, 1, 2]
            assert await ctx.result() == "closed"
            async with portal.open_context(ctx_fns.caller_sends_then_closes) as (ctx, _):
                async with ctx.open_stream() as stream:
                    for i in range(3):
                        await stream.send(i)
                    await stream.aclose()
                assert await ctx.result() == [0, 1, 2]
            await portal.cancel_actor()

    run(main)


def test_the_callees_end_let_out_of_the_stream_block_is_no_error():
    """A caller reading with ``receive()`` until the callee closes its stream lets the
    ``trio.EndOfChannel`` out of its blocks (no ``async for``): that is the stream's
    normal end, so the context ends as after a block that ended (the peer project
    absorbs it as well): the callee's result comes. Before: open_context raised the
    EndOfChannel and cancelled the callee, whose result was lost."""

    async def main() -> tuple[list[int], str]:
        got: list[int] = []
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.callee_closes, n=3) as (ctx, _):
                async with ctx.open_stream() as stream:
                    while True:
                        got.append(await stream.receive())
            result = await ctx.result()
            await portal.cancel_actor()
        return got, result

    assert run(main) == ([0, 1, 2], "closed")


def test_a_callee_gone_after_closing_its_stream_is_actor_exited_either_way(tmp_path):
    """The callee closes its stream, then its process exits with the context open: the
    caller that let the stream's end out of its block gets ActorExited, as one whose
    task saw the exit before the end does. Before: the EndOfChannel when the end
    reached the caller's task first (the peer suite's test_advanced_faults
    [break_child-pre_aclose_msgstream] gave EndOfChannel 1 run in 5, ActorExited else)."""
    release = tmp_path / "release"

    async def main() -> list[int]:
        got: list[int] = []
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            with pytest.raises(devx.ActorExited, match="ended by itself"):
                async with portal.open_context(
                    ctx_fns.callee_closes_then_exits, n=3, release=str(release)
                ) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        while True:
                            try:
                                got.append(await stream.receive())
                            except trio.EndOfChannel:
                                release.touch()  # the end came first: now the exit
                                raise
        return got

    assert run(main) == [0, 1, 2]


def test_backpressure_bounds_the_buffer():
    n = settings.Settings().stream_window * 4

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.producer, n=n) as (ctx, _):
                async with ctx.open_stream() as stream:
                    # the producer sends a window's worth, then waits for us
                    state = await _wait_state(portal, lambda s: s["blocked"])
                    assert state["sent"] == settings.Settings().stream_window
                    assert stream.buffered <= settings.Settings().stream_window
                    got = [await stream.receive() for _ in range(n)]
                    assert got == list(range(n))
                    with pytest.raises(trio.EndOfChannel):
                        await stream.receive()
                assert await ctx.result() == n
            # and the other way: the caller's sends wait for the callee's reads. The
            # callee reads nothing until its gate opens: the sender gets exactly a
            # window through, then blocks
            sent = 0
            async with portal.open_context(ctx_fns.gated_consume) as (ctx, _):
                async with ctx.open_stream() as stream:

                    async def send_all() -> None:
                        nonlocal sent
                        for i in range(n):
                            await stream.send(i)
                            sent = i + 1

                    async with trio.open_nursery() as tn:
                        tn.start_soon(send_all)
                        await trio.testing.wait_all_tasks_blocked()
                        window = settings.Settings().stream_window
                        assert sent == window and stream.credits == 0
                        # the callee holds exactly the window unread
                        assert await portal.run(ctx_fns.open_gate) == window
                assert await ctx.result() == n
            await portal.cancel_actor()

    run(main)


def test_started_reaches_a_caller_while_the_callee_waits():
    """A callee that waits after ``started()`` (for the caller's next call here)
    hands the caller its first value at once."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.started_then_wait) as (ctx, first):
                assert first == "first"
                await portal.run(ctx_fns.open_ctx_gate)
                assert await ctx.result() == "after"
            await portal.cancel_actor()

    run(main)


def test_started_reaches_a_caller_while_the_callee_runs_sync_code(tmp_path):
    """As in the peer, ``started()`` goes out when called: a callee that says it is
    ready and then runs synchronous code (CPU work, no checkpoint) does not keep
    its caller waiting for that work to end. The callee runs until the caller has
    the first value and says so through a file."""
    flag = str(tmp_path / "caller-has-started")

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            fn = ctx_fns.started_then_sync_work
            async with portal.open_context(fn, flag=flag, bound=scaled(30)) as (ctx, first):
                assert first == "ready"
                Path(flag).touch()
                assert await ctx.result() == "seen"
            await portal.cancel_actor()

    run(main)


def _count_sends(chan, sent: list[str]):
    """Record the type of every frame ``chan`` sends; returns the original send_raw."""
    real_send_raw = chan.send_raw

    async def counting_send_raw(frame, **kw):
        # a frame: a 4-byte length, then a msgpack map tagged with its type
        sent.append(msgspec.msgpack.decode(bytes(frame)[4:])["type"])
        await real_send_raw(frame, **kw)

    chan.send_raw = counting_send_raw
    return real_send_raw


def test_a_context_without_a_stream_costs_the_caller_one_frame():
    """A callee that returns right after ``started()``: the caller sends its Start
    and nothing else, whether its block ends before the Return has come or after
    (no end-of-stream: the callee never opened its stream), and the result is the
    callee's."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            chan = portal.channel
            sent: list[str] = []
            real_send_raw = _count_sends(chan, sent)
            for i in range(20):
                async with portal.open_context(ctx_fns.just_return, value=i) as (ctx, first):
                    assert first == i
                assert await ctx.result() == i + 1
            chan.send_raw = real_send_raw  # type: ignore[method-assign]
            assert sent == ["Start"] * 20, sent
            await portal.cancel_actor()

    run(main)


def test_a_callee_reading_its_stream_sees_the_end_of_a_block_without_one():
    """The caller's block ends without opening a stream while the callee opens its
    own and reads it: the callee's ``async for`` ends (the caller sends its end once
    the callee said it opened the stream, before or after the block ended), the
    result comes back, and the caller sent one end-of-stream per context."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            chan = portal.channel
            sent: list[str] = []
            real_send_raw = _count_sends(chan, sent)
            for _ in range(20):
                async with portal.open_context(ctx_fns.consume) as (ctx, _first):
                    pass
                assert await ctx.result() == 0
            chan.send_raw = real_send_raw  # type: ignore[method-assign]
            assert sent == ["Start", "StreamEnd"] * 20, sent
            await portal.cancel_actor()

    run(main)


def test_many_concurrent_contexts_on_one_channel():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            results = {}

            async def one(i):
                async with portal.open_context(ctx_fns.echo, n=i) as (ctx, first):
                    assert first == 2 * i
                    async with ctx.open_stream() as stream:
                        for j in range(10):
                            await stream.send(i * 100 + j)
                            assert await stream.receive() == i * 100 + j + 1
                    results[i] = await ctx.result()

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            assert results == {i: "done" for i in range(50)}
            assert not devx.current_actor().contexts
            assert not portal.calls.pending
            await portal.cancel_actor()

    run(main)


def test_decorator_needs_async_function():
    with pytest.raises(TypeError, match="needs an async function"):
        devx.context(ctx_fns.not_a_context)


def test_peer_aliases():
    async def main():
        async with devx.open_nursery(enable_transports=["uds"]) as an:
            actor = devx.current_actor()
            assert isinstance(actor.listen_addr or await actor.ensure_listener(), str)
            portal = await an.run_in_actor(ctx_fns.not_a_context, x=5)
            assert await portal.wait_for_result() == 5
            assert portal.chan.aid is not None and portal.chan.aid.name
            # Actor.cancel_soon(): the callee's actor cancels itself, and says so
            worker = await an.start_actor("worker", enable_modules=ENABLE)
            with pytest.raises(devx.ContextCancelled) as info:
                async with worker.open_context(ctx_fns.cancel_own_actor):
                    await trio.sleep_forever()
            assert info.value.canceller == worker.chan.aid
        with pytest.raises(ValueError, match="one transport per tree"):
            async with devx.open_nursery(enable_transports=["tcp", "uds"]):
                pass

    run(main)


def test_context_cancel_timeout_bounds_the_wait_for_a_stubborn_callee():
    """README: the block's exit waits for the callee at most DEVX_CONTEXT_CANCEL_TIMEOUT,
    then raises the caller's own error (the callee shields itself until released)."""
    script = Path(__file__).parent / "scripts" / "ctx_cancel_timeout.py"
    out = run_script(script, DEVX_CONTEXT_CANCEL_TIMEOUT="1.5")
    assert out.returncode == 0, out.stderr
    assert "timeout here: 1.5\n" in out.stdout
    m = re.search(r"raised ZeroDivisionError after ([\d.]+) s", out.stdout)
    assert m, out.stdout
    assert float(m.group(1)) >= 1.5  # it waited for the callee as long as it was told
    assert "callee finished before the exit: False" in out.stdout  # and no longer


def test_cancel_of_an_ended_context_reaches_no_later_call():
    """A context served by a parked worker runs under the worker's cancel scope (its
    ctx.cancel() cancels it): once the context is over, a ctx.cancel() on it (kept by
    the callee's code) must not cancel the next call that worker serves."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.keep_ctx) as (ctx, _):
                pass
            served_ctx = await ctx.result()
            got: list[int] = []
            async with trio.open_nursery() as tn:

                async def waiter() -> None:
                    got.append(await portal.run(ctx_fns.wait_kept_gate))

                tn.start_soon(waiter)

                async def gate_open() -> bool | None:
                    return await portal.run(ctx_fns.kept_gate_open) or None

                await await_until(gate_open, scaled(5), "the waiting call")
                await portal.run(ctx_fns.cancel_kept_ctx)
            assert got == [served_ctx]  # the same parked worker, not cancelled
            await portal.cancel_actor()

    run(main)


def test_a_stream_send_cancelled_before_it_went_out_spends_no_credit():
    """A ``stream.send()`` under a scope already cancelled raises Cancelled at its
    cancellation point and sends nothing (trio's rule for a cancelled operation). It
    spent one of the stream's credits anyway, which nothing gave back (the peer never
    got the item, so never acknowledged it): after a window of such sends (a send per
    turn of a loop whose deadline passed) the stream's next send waited for ever."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            async with portal.open_context(ctx_fns.consume) as (ctx, _):
                async with ctx.open_stream() as stream:
                    window = stream.credits
                    for i in range(2 * window):
                        with trio.CancelScope() as scope:
                            scope.cancel()
                            await stream.send(i)
                        assert scope.cancelled_caught
                    assert stream.credits == window
                    with trio.fail_after(scaled(10)):  # (before: no credit, for ever)
                        await stream.send("the one sent")
                assert await ctx.result() == 1  # the callee got that one, no other
            await portal.cancel_actor()

    run(main)


def test_a_started_cancelled_before_it_went_out_can_be_called_again():
    """A callee's ``ctx.started()`` under a scope already cancelled raises Cancelled
    with nothing sent; it marked the context started all the same, so the callee's
    next ``started()`` raised "started() called twice" (and a callee that returned
    instead handed its caller the return value as the first value)."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            fn = ctx_fns.started_after_a_cancelled_start
            async with portal.open_context(fn) as (ctx, first):
                assert first == "second"
                assert await ctx.result() is True
            await portal.cancel_actor()

    run(main)


def test_a_receive_cancelled_while_its_ack_waits_for_the_channel_loses_no_item(tmp_path):
    """Every half window a ``stream.receive()`` acknowledges what it read, after
    taking the item. That acknowledgement waited for the channel while another task's
    big frame held it (the callee's loop blocked, reading nothing), and a cancel there
    raised Cancelled out of the receive with the item taken: it was lost (and the
    acknowledgement too, so the callee's window shrank for good). The receive now
    returns its item and the acknowledgement goes out behind the big frame."""
    from functools import partial

    release, blocked = str(tmp_path / "release"), str(tmp_path / "blocked")

    async def main() -> list[int]:
        got: list[int] = []
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            fn = ctx_fns.send_then_block
            async with portal.open_context(
                fn, n=64, first=32, release=release, blocked=blocked
            ) as (
                ctx,
                _,
            ):
                async with ctx.open_stream() as stream:
                    assert stream.credits >= 64  # (the acknowledgement is every 32: half of it)
                    with trio.fail_after(scaled(10)):
                        while not Path(blocked).exists():
                            await trio.sleep(0.005)
                        for _ in range(31):
                            got.append(await stream.receive())
                    async with trio.open_nursery() as n:
                        big = partial(portal.run, ctx_fns.swallow, data=b"y" * (16 << 20))
                        n.start_soon(big)
                        await trio.testing.wait_all_tasks_blocked()  # the channel is busy
                        scope = trio.CancelScope()
                        n.start_soon(partial(_receive_into, stream, got, scope))
                        await trio.testing.wait_all_tasks_blocked()
                        scope.cancel()  # (before: the receive waited for the channel)
                        Path(release).touch()
                    with trio.fail_after(scaled(10)):
                        async for value in stream:
                            got.append(value)
            await portal.cancel_actor()
        return got

    assert trio.run(main) == list(range(64))


async def _receive_into(stream, got: list, scope: trio.CancelScope) -> None:
    with scope:
        got.append(await stream.receive())
