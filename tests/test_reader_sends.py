"""A channel's reader never waits to send. Two readers that each wait on a send to
the other wedge the channel until its send timeout breaks it (review6 H1): the root's
reader replying to a call the child made (served inline) waited behind a big frame of
the root's, while the child's reader, replying inline to a big call, waited for the
root to read."""

from __future__ import annotations

import trio

import devx
import direct_fns as fns
from conftest import scaled, wait_until

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


def test_a_peer_is_never_given_up_while_a_repl_is_live(tmp_path):
    """The root's REPL blocks its loop while a child streams 1 MiB items to it: the
    child's send stalls past the stall bound (0.5 s here, 30 s by default) and waits
    on, saying so in the logs, and the stream completes after `c`. Before: the child
    gave the channel up at the bound and exited; `c` found it gone (ActorExited, the
    root's crash REPL): a timer killed an actor under a live REPL (review6 H2)."""
    from _pty import Repl, banner

    log_file = tmp_path / "devx.log"
    r = Repl(
        "pause_beside_big_stream.py",
        DEVX_SEND_STALL_TIMEOUT="0.5",
        DEVX_LOG_FILE=str(log_file),
        DEVX_LOG_LEVEL="info",
    )
    try:
        r.expect(banner("PAUSE", "root", "root"))
        r.prompt()
        wait_until(
            lambda: log_file.exists() and "a REPL is the user's time" in log_file.read_text(),
            scaled(20),
            "the child's stalled send waiting on",
        )
        r.child.sendline("c")
        r.expect_exact("root got 100 items")
        assert r.finish() == 0
    finally:
        r.close()
