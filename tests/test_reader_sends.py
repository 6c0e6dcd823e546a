"""A channel's reader never waits to send. Two readers that each wait on a send to
the other wedge the channel until its send timeout breaks it (review6 H1): the root's
reader replying to a call the child made (served inline) waited behind a big frame of
the root's, while the child's reader, replying inline to a big call, waited for the
root to read."""

from __future__ import annotations

import trio

import devx
import direct_fns as fns
from conftest import scaled

BIG = b"x" * (3 * 1024 * 1024)  # more than both sockets' buffers together


def test_big_calls_beside_callbacks_on_one_channel_never_wedge():
    """Two tasks send 3 MiB echo calls to a child while a third task's calls make the
    child call the root back over the same channel; nothing is cancelled. Before: the
    channel wedged for its 30 s send timeout, then broke and the child was lost (every
    call failed with ActorExited)."""

    async def main() -> list[int]:
        done: list[int] = []
        async with devx.open_nursery(enable_modules=["direct_fns"]) as an:
            portal = await an.start_actor("w", enable_modules=["direct_fns"])

            async def bigs() -> None:
                for _ in range(6):
                    assert await portal.run(fns.echo, data=BIG) == BIG
                done.append(1)

            async def asks() -> None:
                for k in range(100):
                    assert await portal.run(fns.ask_root, x=k) == 2 * k + 1
                done.append(2)

            with trio.fail_after(scaled(20)):  # (a wedge: the channel broken at 30 s)
                async with trio.open_nursery() as n:
                    n.start_soon(bigs)
                    n.start_soon(bigs)
                    n.start_soon(asks)
            await portal.cancel_actor()
        return sorted(done)

    assert trio.run(main) == [1, 1, 2]
