"""A ``portal.run`` caller that calls in a loop reads its replies off the channel itself
(the channel's read baton, devx.runtime.ipc), instead of its reader task reading them
and waking it. It must mean the same to every caller: other callers' replies on the
same channel, calls and stream items from the peer meanwhile, cancellation, errors,
large replies and the peer's death, all as through the reader."""

from __future__ import annotations

import contextlib
import functools
import os

import pytest
import trio

import devx
import direct_fns as fns
from conftest import await_until, scaled

pytestmark = pytest.mark.timeout(60)
ENABLE = ["direct_fns"]


def run_with_child(body, **kwargs):
    async def main():
        async with devx.open_nursery(**kwargs) as an:
            portal = await an.start_actor("peer", enable_modules=ENABLE)
            try:
                return await body(portal)
            finally:
                await portal.cancel_actor()

    return trio.run(main)


async def warm(portal) -> None:
    """Calls in a row: from the second on the caller holds the baton."""
    for _ in range(3):
        await portal.run(fns.noop)


class CallWays:
    """Which way the next call goes, set up on purpose (tests that made calls until
    one went the way they wanted failed in CI, 50 tries on a busy box). ``kept``: a
    worker done with an awaiting call waits on the channel holding its read baton,
    and reads the next call itself; a watcher in the child says where each call's
    worker went, and calls are made until one is there (a worker finds the reader
    not yet back at its idle point, trio's run order, about one time in N).
    ``handed``: after a sync call the reader served, the reader reads the next call
    and hands it to a parked worker."""

    TRIES = 200

    def __init__(self, portal, path: str) -> None:
        self.portal, self.path = portal, path

    @contextlib.asynccontextmanager
    async def watching(self):
        async with trio.open_nursery() as n:
            watch = functools.partial(self.portal.run, fns.announce_where_a_worker_went)
            n.start_soon(functools.partial(watch, path=self.path))
            await await_until(
                lambda: os.path.exists(self.path + ".up"), scaled(10), "the watcher running"
            )
            try:
                yield self
            finally:
                n.cancel_scope.cancel()

    async def kept(self) -> None:
        seen = []
        for _ in range(self.TRIES):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            await self.portal.run(fns.served_by)
            await await_until(
                lambda: os.path.exists(self.path), scaled(10), "where a call's worker went"
            )
            seen.append(open(self.path).read())
            if seen[-1] == "kept":
                return
        pytest.fail(f"no worker waited for the next call after {len(seen)} calls: {seen}")

    async def handed(self) -> None:
        assert await self.portal.run(fns.noop) is None


class FirstAfterSleep(trio.abc.Instrument):
    """Which task runs first each time the loop wakes from a sleep (an IO wait with a
    timeout): the one the socket's readiness woke."""

    def __init__(self, task: trio.lowlevel.Task):
        self.task, self.woke = task, False
        self.mine = self.others = 0

    def before_io_wait(self, timeout: float) -> None:
        self.woke = timeout > 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.woke:
            self.woke = False
            if task is self.task:
                self.mine += 1
            else:
                self.others += 1


def test_a_caller_in_a_loop_reads_its_own_replies():
    """Through the reader, the reader is what a reply wakes (the caller runs in the
    loop's next pass); a caller that reads the socket itself is woken by its reply."""
    calls = 200

    async def body(portal):
        await warm(portal)
        first = FirstAfterSleep(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(first)
        try:
            for _ in range(calls):
                assert await portal.run(fns.noop) is None
        finally:
            trio.lowlevel.remove_instrument(first)
        assert first.mine >= 0.8 * (first.mine + first.others), (first.mine, first.others)

    run_with_child(body)


def test_other_callers_replies_errors_and_big_replies():
    big = os.urandom(3 * 1024 * 1024)  # a raw frame

    async def body(portal):
        await warm(portal)
        results: dict[str, object] = {}

        async def caller(i: int) -> None:
            for j in range(20):
                results[f"{i}.{j}"] = await portal.run(
                    fns.slow_add, a=i, b=j, delay=0.001 * (j % 3)
                )

        async def looper() -> None:
            for _ in range(200):
                await portal.run(fns.noop)
            with pytest.raises(devx.RemoteActorError, match="boom 1"):
                await portal.run(fns.fail, message="boom 1")
            assert await portal.run(fns.echo, data=big) == big
            assert await portal.run(fns.noop) is None

        async with trio.open_nursery() as n:
            n.start_soon(looper)
            for i in range(4):
                n.start_soon(caller, i)
        assert results == {f"{i}.{j}": i + j for i in range(4) for j in range(20)}

    run_with_child(body)


def test_the_peer_calls_back_and_streams_while_a_caller_reads():
    """Calls from the peer and stream items arrive on the socket a caller reads:
    the reader serves them, in order."""

    async def body(portal):
        await warm(portal)
        seen: list[int] = []

        async def stream() -> None:
            async with portal.open_stream_from(fns.count, n=2000) as items:
                async for i in items:
                    seen.append(i)

        async with trio.open_nursery() as n:
            n.start_soon(stream)
            for x in range(50):
                assert await portal.run(fns.ask_root, x=x) == 2 * x + 1
                assert await portal.run(fns.noop) is None
        assert seen == list(range(2000))

    run_with_child(body, enable_modules=ENABLE)


def test_a_cancelled_direct_read_cancels_the_call(tmp_path):
    marker = str(tmp_path / "sleeping")

    async def body(portal):
        await warm(portal)
        with trio.CancelScope() as cs:
            async with trio.open_nursery() as n:
                n.start_soon(lambda: portal.run(fns.sleep_forever, marker=marker))
                await await_until(lambda: os.path.exists(marker), scaled(5), "the call under way")
                cs.cancel()
        assert cs.cancelled_caught
        await await_until(
            lambda: os.path.exists(marker + ".cancelled"), scaled(5), "the remote call cancelled"
        )
        for _ in range(5):  # the channel still reads, by the reader or a caller
            assert await portal.run(fns.slow_add, a=1, b=2, delay=0) == 3

    run_with_child(body)


def test_the_peer_dying_during_a_direct_read_is_a_clear_error():
    async def main():
        with pytest.raises(devx.ActorExited) as info:
            async with devx.open_nursery() as an:
                portal = await an.start_actor("mortal", enable_modules=ENABLE)
                await warm(portal)
                await portal.run(fns.die, code=9)
        assert info.value.exit_code == 9
        assert "exited with code 9" in str(info.value)

    trio.run(main)


def test_a_context_caller_in_a_loop_reads_its_callees_frames():
    """The same for contexts: ``started`` and the result are read by the caller."""
    rounds = 100

    async def body(portal):
        for x in range(3):
            async with portal.open_context(fns.ctx_echo, x=x) as (ctx, first):
                assert first == x
            assert await ctx.result() == x + 1
        first_after = FirstAfterSleep(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(first_after)
        try:
            for x in range(rounds):
                async with portal.open_context(fns.ctx_echo, x=x) as (ctx, first):
                    assert first == x
                assert await ctx.result() == x + 1
        finally:
            trio.lowlevel.remove_instrument(first_after)
        mine, others = first_after.mine, first_after.others
        assert mine >= 0.8 * (mine + others), (mine, others)

    run_with_child(body)


def test_contexts_errors_and_streams_while_the_caller_reads():
    async def body(portal):
        for x in range(20):
            async with portal.open_context(fns.ctx_echo, x=x) as (ctx, first):
                assert first == x
            assert await ctx.result() == x + 1
            with pytest.raises(devx.RemoteActorError, match=f"bad {x}"):
                async with portal.open_context(fns.ctx_fail_after_started, message=f"bad {x}"):
                    await trio.sleep_forever()  # cancelled by the callee's error
            async with portal.open_context(fns.ctx_stream, n=50) as (ctx, _):
                async with ctx.open_stream() as stream:
                    assert [i async for i in stream] == list(range(50))
            assert await ctx.result() == 50
            assert await portal.run(fns.noop) is None

    run_with_child(body)


# --- the callee's side: a worker done with a call reads the next one itself ------------


def test_a_worker_reads_the_next_call_itself_and_runs_it_as_a_task_would(tmp_path):
    """A worker that served a call waits on the channel itself while the reader is
    idle: a call it reads runs in it at once, as in a task of its own (its name, a
    fresh copy of the reader's context), under a scope its caller's cancel reaches;
    a sync call it reads goes to the reader (served inline there, in order)."""
    marker = str(tmp_path / "sleeping")

    async def body(portal):
        reader = await portal.run(fns.reader_task_name)
        for i in range(30):
            name, before = await portal.run(fns.task_call, value=f"v{i}")
            assert (name, before) == ("direct_fns.task_call", "unset")
            await trio.sleep(0.002)  # the worker is done and waits before the next call
            if i % 3 == 0:  # a sync call the waiting worker reads: the reader serves it
                assert await portal.run(fns.reader_task_name) == reader
        assert await portal.run(fns.listened) > 0  # (the worker read some itself)
        # a call read by a waiting worker is cancelled by its caller's cancel
        await portal.run(fns.task_call, value="x")
        await trio.sleep(0.002)
        with trio.CancelScope() as cs:
            async with trio.open_nursery() as n:
                n.start_soon(lambda: portal.run(fns.sleep_forever, marker=marker))
                await await_until(lambda: os.path.exists(marker), scaled(5), "the call under way")
                cs.cancel()
        assert cs.cancelled_caught
        await await_until(
            lambda: os.path.exists(marker + ".cancelled"), scaled(5), "the remote call cancelled"
        )
        for i in range(5):
            assert await portal.run(fns.slow_add, a=i, b=1, delay=0) == i + 1
        # contexts are read by a waiting worker too
        for x in range(10):
            async with portal.open_context(fns.ctx_echo, x=x) as (ctx, first):
                assert first == x
            assert await ctx.result() == x + 1
            await trio.sleep(0.002)

    run_with_child(body)


def test_an_actor_ends_while_a_worker_waits_for_a_call():
    """Its teardown ends a worker waiting on the channel for its next call (the
    workers' close cancels it), as it ends a parked one: nothing waits for a call
    that will not come."""

    async def main():
        with trio.fail_after(scaled(30)):  # (a hang's bound)
            async with devx.open_nursery() as an:
                portal = await an.start_actor("peer", enable_modules=ENABLE)
                for i in range(3):
                    await portal.run(fns.task_call, value=str(i))
                await trio.sleep(0.01)  # its worker waits for the next call
                await portal.cancel_actor()
            async with devx.open_nursery() as an:  # and a one-shot child's own end
                portal = await an.run_in_actor(fns.task_call, value="once")
                assert list(await portal.result()) == ["direct_fns.task_call", "unset"]

    trio.run(main)


def test_many_callers_at_once_while_workers_wait_for_calls():
    """Frames back to back (the reader reads several in a row, yielding between them
    with bytes in hand) while workers finish calls and look for the next one: every
    call is answered, right, once."""

    async def body(portal):
        results: dict[tuple[int, int], object] = {}

        async def caller(i: int) -> None:
            for j in range(60):
                if j % 2:
                    results[i, j] = await portal.run(fns.slow_add, a=i, b=j, delay=0)
                else:
                    results[i, j] = await portal.run(fns.noop)

        async with trio.open_nursery() as n:
            for i in range(12):
                n.start_soon(caller, i)
        assert results == {(i, j): (i + j if j % 2 else None) for i in range(12) for j in range(60)}

    run_with_child(body)


def test_a_worker_that_reads_a_call_stays_the_reader_past_one_checkpoint_only(tmp_path):
    """A worker that read a call off the channel keeps reading it (the reader parked)
    while the call passes through its first plain checkpoint, and a call that ends
    there answers and waits for the next one with nothing handed back and forth. Any
    other wait, a second checkpoint, an error, a call back to the caller, gives the
    channel back to its reader first: a call that then waits, or loops on checkpoints
    for ever, is still cancelled by its caller; sync calls in between are served by
    the reader, in order."""
    tries = iter(range(1000))

    async def cancelled_kept(ways: CallWays, fn, **kwargs) -> None:
        """A call its worker read off the channel (and still reads it), cancelled
        once under way by its caller."""
        marker = str(tmp_path / f"call-{next(tries)}")
        await ways.kept()
        with trio.CancelScope() as cs:
            async with trio.open_nursery() as n:
                n.start_soon(lambda: ways.portal.run(fn, marker=marker, **kwargs))
                await await_until(lambda: os.path.exists(marker), scaled(5), "the call under way")
                cs.cancel()
        assert cs.cancelled_caught
        await await_until(
            lambda: os.path.exists(marker + ".cancelled"), scaled(5), "the remote call cancelled"
        )
        assert open(marker).read() == "kept"

    async def body(portal):
        async with CallWays(portal, str(tmp_path / "listening")).watching() as ways:
            await checks(ways)
        assert await portal.run(fns.listened) > 0

    async def checks(ways: CallWays):
        portal = ways.portal
        reader = await portal.run(fns.reader_task_name)
        for round_ in range(2):
            for i in range(20):  # a worker keeps the channel from call to call
                assert await portal.run(fns.slow_add, a=i, b=round_, delay=0) == i + round_
            assert await portal.run(fns.reader_task_name) == reader
            with pytest.raises(devx.RemoteActorError, match="after a checkpoint"):
                await portal.run(fns.checkpoint_then_fail, message="after a checkpoint")
            assert await portal.run(fns.checkpoint_then_ask_root, x=round_) == 2 * round_ + 1
            assert await portal.run(fns.ask_root_then_checkpoint, x=round_) == 2 * round_ + 1
            for n in (0, 1, 2):
                await cancelled_kept(ways, fns.checkpoints_then_forever, n=n)
            await cancelled_kept(ways, fns.only_checkpoints)
            assert await portal.run(fns.slow_add, a=1, b=2, delay=0.001) == 3

    run_with_child(body, enable_modules=ENABLE)


def test_the_watcher_says_where_a_calls_worker_went(tmp_path):
    """CallWays' watcher in the child: 'kept' for a worker that waits for the next
    call holding the read baton, 'parked' for one that parked or ended (its 'parked'
    look read ``Task.coroutine``, which trio's tasks do not have: the watcher died the
    first time a call's worker did not keep the channel, and the test with it)."""
    path = str(tmp_path / "listening")

    async def body(portal):
        async with CallWays(portal, path).watching() as ways:
            await ways.kept()
            os.remove(path)
            await portal.run(fns.served_by_a_task_that_ended)
            await await_until(lambda: os.path.exists(path), scaled(10), "the watcher's answer")
            assert open(path).read() == "parked"

    run_with_child(body, enable_modules=ENABLE)


def test_a_call_that_waits_through_greenback_gives_the_channel_back(tmp_path):
    """Calls whose sync code waits through greenback (its portal's checkpoint, then
    ``greenback.await_``: traps that go to trio past the frames that watch for a
    wait), some read off the channel by their worker: each gives the channel back to
    its reader before that wait, so its caller's cancel is read and ends it, and the
    next call is served. A worker kept reading the channel through that wait
    (dec4c01): the cancel was never read, nor any later call (cancel_actor ended the
    child with SIGTERM). Calls read by their worker and handed to it, in turn."""

    async def one_try(ways: CallWays, way: str, marker: str) -> None:
        portal = ways.portal
        await getattr(ways, way)()
        with trio.CancelScope() as cs:
            async with trio.open_nursery() as n:
                call = functools.partial(portal.run, fns.greenback_then_forever, marker=marker)
                n.start_soon(call)
                await await_until(lambda: os.path.exists(marker), scaled(5), "the call")
                cs.cancel()
        await await_until(
            lambda: os.path.exists(marker + ".cancelled"), scaled(5), "the call cancelled"
        )
        assert open(marker).read() == way
        assert await portal.run(fns.slow_add, a=1, b=2, delay=0) == 3

    async def body(portal):
        async with CallWays(portal, str(tmp_path / "listening")).watching() as ways:
            for i in range(8):
                await one_try(ways, ("kept", "handed")[i % 2], str(tmp_path / f"call-{i}"))

    run_with_child(body, enable_modules=ENABLE)


def test_a_stack_dump_shows_where_a_call_its_worker_read_waits(tmp_path):
    """A call its worker read off the channel runs driven by hand
    (inline.past_a_checkpoint: its waits yielded, not awaited): a stack dump still
    shows the user's frame where it waits. The dump stopped at the driver: 'task
    ... : not started', no user frame (dec4c01), in both the stackscope walk and
    the walk of trio's own task tree (Python 3.13's)."""

    async def body(portal):
        async with CallWays(portal, str(tmp_path / "listening")).watching() as ways:
            for way in ("kept", "handed", "kept"):
                await dumped(ways, way)

    async def dumped(ways: CallWays, way: str) -> None:
        portal = ways.portal
        await getattr(ways, way)()
        marker = str(tmp_path / f"call-{way}-{os.urandom(4).hex()}")
        call = functools.partial(portal.run, fns.checkpoints_then_forever, n=0, marker=marker)
        async with trio.open_nursery() as n:
            n.start_soon(call)
            await await_until(lambda m=marker: os.path.exists(m), scaled(5), "the call")
            dump = await portal.run(fns.stack_dump)
            n.cancel_scope.cancel()
        name = "task 'direct_fns.checkpoints_then_forever'"
        lines = [  # (its summary lines; not the headers of its frames' listings)
            ln
            for ln in dump.splitlines()
            if name in ln and "<Task" not in ln and not ln.endswith(":")
        ]
        assert lines, dump
        assert all("in checkpoints_then_forever" in ln for ln in lines), "\n".join(lines)
        assert open(marker).read() == way

    run_with_child(body, enable_modules=ENABLE)
