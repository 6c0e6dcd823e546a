"""A frame behind another sender's big frame is never dropped. A reply waited 1 s for
the channel, a StreamEnd or a CancelCall 0.5 s, then was given up silently: a root
whose loop was busy for a while (sync work, a slow reader) left the caller of the
dropped reply waiting for ever, and a dropped cancel left the callee running."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import trio
import trio.testing

import devx
import direct_fns as fns
from conftest import scaled, wait_until

BIG = 16 * 1024 * 1024  # far more than a socket pair buffers


def _wait_file(path: Path, what: str) -> None:
    """Block the loop (sync) until ``path`` exists: the loop reads nothing meanwhile."""
    wait_until(path.exists, scaled(20), what)


async def _file(path: str) -> None:
    while not os.path.exists(path):
        await trio.sleep(0.005)


def test_a_reply_behind_a_big_reply_reaches_its_caller(tmp_path):
    """Two calls out; the root's loop busy (sync) while the child's big reply holds the
    channel and the small one queues behind it for longer than the old 1 s. Before:
    the small reply was dropped and its caller waited for ever."""
    go, big_sent, small_sent = (str(tmp_path / n) for n in ("go", "big", "small"))

    async def main() -> dict[str, object]:
        got: dict[str, object] = {}
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["direct_fns"])

            async def call(key: str, fn, **kw) -> None:
                got[key] = await portal.run(fn, **kw)

            with trio.fail_after(scaled(10)):
                async with trio.open_nursery() as n:
                    n.start_soon(partial(call, "big", fns.big_after, go=go, marker=big_sent, n=BIG))
                    n.start_soon(
                        partial(call, "small", fns.small_after, after=big_sent, marker=small_sent)
                    )
                    await trio.testing.wait_all_tasks_blocked()  # both calls sent
                    Path(go).touch()
                    _wait_file(Path(small_sent), "the small reply queued")
                    time.sleep(1.5)  # the loop stays busy past the old 1 s lock wait
            await portal.cancel_actor()
        return got

    got = trio.run(main)
    assert got["small"] == "small"
    assert got["big"] == b"x" * BIG


def test_a_cancelled_call_behind_a_big_frame_is_cancelled_in_its_callee(tmp_path):
    """A call cancelled while the channel is busy with a big frame its peer is not
    reading (its loop blocked): the caller leaves at once, and the CancelCall goes out
    after that frame. Before: it was given up after 0.5 s and the callee ran on."""
    marker = str(tmp_path / "forever")
    release, blocked = str(tmp_path / "release"), str(tmp_path / "blocked")

    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["direct_fns"])
            with trio.fail_after(scaled(10)):
                async with trio.open_nursery() as n:
                    scope = trio.CancelScope()
                    left = trio.Event()

                    async def forever() -> None:
                        with scope:
                            await portal.run(fns.sleep_forever, marker=marker)
                        left.set()

                    n.start_soon(forever)
                    await _file(marker)
                    n.start_soon(partial(portal.run, fns.block_until, path=release, marker=blocked))
                    await _file(blocked)
                    n.start_soon(partial(portal.run, fns.echo, data=b"y" * BIG))
                    await (
                        trio.testing.wait_all_tasks_blocked()
                    )  # the echo's frame holds the channel
                    scope.cancel()
                    await left.wait()  # the cancelled caller left
                    Path(release).touch()
            with trio.fail_after(scaled(10)):  # (before: never)
                await _file(marker + ".cancelled")
            await portal.cancel_actor()

    trio.run(main)


async def _cancel_a_big_call_half_out(
    tmp_path: Path,
    portal: devx.Portal,
    call: Callable[..., Awaitable[object]],
    after: Callable[[], None] | None = None,
) -> str:
    """With the child's loop blocked (``fns.block_until``), run ``call(marker=...)``,
    a call whose big argument cannot all go out meanwhile, in a trio scope cancelled
    once its frame is half out; wait for its caller to leave (``after()`` runs there,
    right after the cancelled call), then let the child's loop go and wait for the
    call to arrive whole and then its cancel (the callee's ``<marker>.cancelled``).
    Returns the callee's marker."""
    marker = str(tmp_path / "big")
    release, blocked = str(tmp_path / "release"), str(tmp_path / "blocked")
    async with trio.open_nursery() as n:
        n.start_soon(partial(portal.run, fns.block_until, path=release, marker=blocked))
        await _file(blocked)
        scope = trio.CancelScope()
        left = trio.Event()

        async def big() -> None:
            with scope:
                await call(marker=marker)
            if after is not None:
                after()
            left.set()

        n.start_soon(big)
        await trio.testing.wait_all_tasks_blocked()  # its frame is half out
        scope.cancel()
        try:
            with trio.fail_after(scaled(10)):  # (before 2e72ab1: not while the child is blocked)
                await left.wait()
        finally:
            Path(release).touch()
    with trio.fail_after(scaled(10)):
        await _file(marker + ".cancelled")  # the call arrived whole, then its cancel
    return marker


def test_a_caller_cancelled_halfway_through_its_big_frame_leaves_at_once(tmp_path, monkeypatch):
    """A call whose 16 MiB argument is half out to a child whose loop is blocked is
    cancelled by a trio scope: the caller leaves at once (its frame's rest goes out from
    a task of the root), the child, once its loop runs again, gets the whole call and
    then its cancel, and the channel serves the next call. Before: the caller waited
    (shielded) until the child read the frame, for up to the send stall bound (30 s),
    and so did the teardown of a tree whose block held it."""
    monkeypatch.setenv("DEVX_SEND_STALL_TIMEOUT", "600")  # (before: waited this long)

    async def main() -> tuple[str, bytes]:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["direct_fns"])
            call = partial(portal.run, fns.sleep_forever_with, data=b"y" * BIG)
            marker = await _cancel_a_big_call_half_out(tmp_path, portal, call)
            echoed: bytes = await portal.run(fns.echo, data=b"z" * BIG)
            await portal.cancel_actor()
        return marker, echoed

    marker, echoed = trio.run(main)
    assert echoed == b"z" * BIG
    assert Path(marker).read_text() == str(BIG)


def test_a_cancelled_callers_buffer_is_its_own_again_once_it_left(tmp_path, monkeypatch):
    """The caller of a cancelled call whose bytearray argument was half out (its body
    travels uncopied) reuses the buffer once it left, as any trio code may after a
    cancelled call: it rewrites it, then resizes it. The frame's rest the root's task
    writes later must be what the call sent, and the buffer no longer pinned by it.
    Before: the callee got the rewritten bytes (and ran with them), and the resize
    raised BufferError (the rest's writer held a view of the buffer)."""
    monkeypatch.setenv("DEVX_SEND_STALL_TIMEOUT", "600")
    data = bytearray(b"y" * BIG)

    def reuse() -> None:
        data[:] = b"n" * BIG  # the caller's buffer, reused
        data.clear()

    async def main() -> str:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["direct_fns"])
            call = partial(portal.run, fns.sleep_forever_counting, data=data, byte=b"y")
            marker = await _cancel_a_big_call_half_out(tmp_path, portal, call, after=reuse)
            await portal.cancel_actor()
        return marker

    marker = trio.run(main)
    assert Path(marker).read_text() == f"{BIG} {BIG}"  # what the call sent, all of it
