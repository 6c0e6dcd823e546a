"""A ``portal.run`` caller polls its channel before its loop sleeps (runtime/replywait),
when asked (``DEVX_REPLY_SPIN_US``, off by default): only while a reply is awaited, a CPU
is free and replies keep coming within the window; never in a guest run. The policy is
driven over a real socketpair; the calls through real child processes."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
import trio

import devx
import inline_fns as fns
from devx.core import settings
from devx.runtime import replywait
from devx.runtime.replywait import CREDIT_MAX, MISS_COST, PROBE_EVERY, ReplyPoll

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def pollers(tmp_path):
    made: list[ReplyPoll] = []

    def make(running: int, limit: float = 0.002) -> ReplyPoll:
        """A poller whose machine has 2 CPUs for us and ``running`` runnable tasks."""
        load = tmp_path / f"loadavg-{running}-{len(made)}"
        load.write_text(f"0.10 0.20 0.30 {running}/345 6789\n")
        poll = ReplyPoll(limit, os.open(load, os.O_RDONLY))
        poll._cpus = 2
        made.append(poll)
        return poll

    yield make
    for poll in made:
        poll.close()


def test_a_reply_already_there_ends_the_poll_at_once_and_earns_credit(pollers, pair):
    a, b = pair
    poll = pollers(running=1)
    poll.expect(a.fileno())
    b.send(b"reply")
    before = poll.credit
    poll.before_io_wait(10.0)  # would poll 2 ms at most: returns at the first look
    assert (poll.polls, poll.hits, poll.credit) == (1, 1, before + 1)


def test_polls_that_run_out_stop_polling_but_for_a_probe(pollers, pair):
    a, _ = pair
    poll = pollers(running=1, limit=0.0005)
    poll.expect(a.fileno())
    polled = 0
    while poll.credit > 0:
        poll.before_io_wait(10.0)
        polled += 1
    assert poll.polls == polled and poll.hits == 0
    assert polled == -(-(CREDIT_MAX // 2) // MISS_COST)  # MISS_COST credits a miss
    for _ in range(PROBE_EVERY - 1):  # a slow callee: these waits sleep at once
        poll.before_io_wait(10.0)
    assert poll.polls == polled
    poll.before_io_wait(10.0)  # the probe
    assert poll.polls == polled + 1


def test_no_poll_without_a_waiting_call_a_timeout_or_a_free_cpu(pollers, pair):
    a, b = pair
    b.send(b"there")
    poll = pollers(running=3)  # 3 runnable tasks, 2 CPUs: busy
    poll.expect(a.fileno())
    poll.before_io_wait(10.0)
    idle = pollers(running=1)
    idle.before_io_wait(10.0)  # nobody waits for a reply
    idle.expect(a.fileno())
    idle.before_io_wait(0.0)  # other tasks are runnable: the loop does not sleep
    assert poll.polls == idle.polls == 0
    idle.done(a.fileno())
    idle.before_io_wait(10.0)
    assert idle.polls == 0


@pytest.fixture
def polling_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DEVX_REPLY_SPIN_US=100`` in this process (it is opt-in), a free CPU assumed."""
    monkeypatch.setattr(ReplyPoll, "cpu_to_spare", lambda self: True)
    monkeypatch.setenv("DEVX_REPLY_SPIN_US", "100")  # the tree resolves its settings


def test_off_unless_asked_and_bounded():
    assert settings.resolve({}).reply_spin_us == 0
    assert settings.resolve({"DEVX_REPLY_SPIN_US": "10000"}).reply_spin_us == 10000
    with pytest.raises(settings.SettingsError, match=r"DEVX_REPLY_SPIN_US='10001'.*at most"):
        settings.resolve({"DEVX_REPLY_SPIN_US": "10001"})


def test_one_probe_that_finds_its_reply_starts_polling_again(pollers, pair):
    """A slow phase leaves no debt: after many misses the next probe that finds its
    reply turns polling back on for the waits that follow."""
    a, b = pair
    poll = pollers(running=1, limit=0.0002)
    poll.expect(a.fileno())
    for _ in range(20 * PROBE_EVERY):  # a long slow phase: probes run out
        poll.before_io_wait(10.0)
    assert poll.credit == 0 and poll.hits == 0
    b.send(b"fast again")
    polls = poll.polls
    for _ in range(PROBE_EVERY):  # up to the next probe, which finds the reply
        poll.before_io_wait(10.0)
        if poll.polls > polls:
            break
    assert (poll.polls, poll.hits, poll.credit) == (polls + 1, 1, 1)
    poll.before_io_wait(10.0)  # polling again at once (the reply is still unread)
    assert poll.polls == polls + 2


def test_calls_wait_for_their_replies_polling(polling_on):
    """Real calls with polling on (a free CPU assumed): the results as without it,
    and the root's loop did poll."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=["inline_fns"])
            out = [await portal.run(fns.add_awaiting, a=i, b=1) for i in range(20)]
            out += [await portal.run(fns.add_no_await, a=i, b=2) for i in range(20)]
            poll = replywait.poller()
            await portal.cancel_actor()
            return out, poll

    out, poll = trio.run(main)
    assert out == [i + 1 for i in range(20)] + [i + 2 for i in range(20)]
    assert poll is not None and poll.polls > 0


def test_contexts_wait_for_the_callee_polling(polling_on):
    """A context's caller waits for its callee's started value and outcome the same
    way (a free CPU assumed): the values as without polling, a stream still works,
    and the root's loop polled though it made no portal.run call."""
    import ctx_fns

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=["ctx_fns"])
            out = []
            for i in range(20):
                async with portal.open_context(ctx_fns.just_return, value=i) as (ctx, first):
                    out.append((first, await ctx.result()))
            async with portal.open_context(ctx_fns.echo, n=2) as (ctx, first):
                async with ctx.open_stream() as stream:
                    await stream.send(1)
                    echoed = await stream.receive()
            poll = replywait.poller()
            await portal.cancel_actor()
            return out, first, echoed, poll

    out, first, echoed, poll = trio.run(main)
    assert out == [(i, i + 1) for i in range(20)]
    assert (first, echoed) == (4, 2)
    assert poll is not None and poll.polls > 0


def test_off_with_zero_and_in_a_guest_run():
    settings.install(settings.resolve({"DEVX_REPLY_SPIN_US": "0"}))
    try:

        async def off():
            return replywait.poller()

        assert trio.run(off) is None
    finally:
        settings.install(None)

    async def trio_main():
        return replywait.poller()

    async def host():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=done.set_result,
        )
        return (await done).unwrap()

    assert asyncio.run(host()) is None
