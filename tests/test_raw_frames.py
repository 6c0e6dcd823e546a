"""Raw frames (a large bytes-like payload sent uncopied behind its message) over real
sockets and through real actors: every payload kind and message that carries one
arrives intact and as ``bytes``, split anywhere or resumed after a cancelled read;
malformed raw frames are clear errors naming the peer, and an actor that gets one
from a peer closes that connection and goes on serving."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

import devx
from conftest import scaled
from devx.runtime import ipc
from devx.runtime.errors import MsgTypeError
from devx.runtime.ipc import (
    MAX_PREAUTH_FRAME,
    RAW_EXT,
    RAW_FLAG,
    RAW_MIN,
    Channel,
    RawFrame,
    encode,
    pack,
)
from devx.runtime.msgs import PROTOCOL, Hello, Return, Start, Started, StreamItem, Yield

pytestmark = pytest.mark.timeout(120)

BIG = bytes(range(256)) * (10 * 4096)  # 10 MiB, recognizable (a shift shows)
_LENS = struct.Struct(">II")


async def channel_pair() -> tuple[Channel, Channel]:
    a, b = trio.socket.socketpair()
    return (
        Channel(trio.SocketStream(a), peer_desc="test writer"),
        Channel(trio.SocketStream(b), peer_desc="test peer"),
    )


async def through(msgs: list, *, pieces: int = 1) -> list:
    """Send ``msgs`` packed as the runtime sends them; what the other side reads.
    ``pieces`` > 1: their bytes are written in that many writes, each once the
    reader waits for more (splits land in length words, headers and bodies)."""
    writer, reader = await channel_pair()
    data = b"".join(
        bytes(f.head) + bytes(f.body) if isinstance(f, RawFrame) else bytes(f)
        for f in map(pack, msgs)
    )
    got: list = []

    async def read() -> None:
        while len(got) < len(msgs):
            got.append(await reader.recv())

    async with trio.open_nursery() as n:
        n.start_soon(read)
        if pieces == 1:
            for m in msgs:
                await writer.send_raw(pack(m))
        else:
            step = len(data) // pieces + 1
            for i in range(0, len(data), step):
                await trio.testing.wait_all_tasks_blocked()
                await writer.stream.send_all(data[i : i + step])
    await writer.aclose()
    await reader.aclose()
    return got


def test_large_payloads_travel_as_raw_frames_small_ones_do_not():
    assert isinstance(pack(Return(cid=1, value=BIG)), RawFrame)
    assert isinstance(pack(Start(cid=1, ns="m", func="f", kwargs={"a": 1, "b": BIG})), RawFrame)
    assert isinstance(pack(Return(cid=1, value=b"x" * (RAW_MIN - 1))), bytearray)
    # nested deeper than the payload's top level: encoded as before
    assert isinstance(pack(Return(cid=1, value=[BIG])), bytearray)
    # the body is the caller's own buffer, not a copy
    frame = pack(Return(cid=1, value=BIG))
    assert isinstance(frame, RawFrame) and frame.body.obj is BIG


@pytest.mark.parametrize(
    "payload",
    [BIG, bytearray(BIG), memoryview(BIG), memoryview(BIG).cast("I")],
    ids=["bytes", "bytearray", "memoryview", "memoryview-of-ints"],
)
def test_every_bytes_like_arrives_intact_as_bytes(payload):
    msgs = [
        Return(cid=1, value=payload),
        Start(
            cid=2,
            ns="m",
            func="f",
            kwargs={"before": "x", "data": payload, "n": 3},
            trace="00-trace-span-01",
        ),
        Yield(cid=3, value=payload),
        Started(cid=4, value=payload),
        StreamItem(cid=5, to_callee=True, value=payload),
        Return(cid=6, value="a small one behind"),
    ]
    got = trio.run(through, msgs)
    assert [type(m) for m in got] == [type(m) for m in msgs]
    assert [m.cid for m in got] == [1, 2, 3, 4, 5, 6]
    for m in got[:5]:
        value = m.kwargs["data"] if isinstance(m, Start) else m.value
        assert type(value) is bytes and value == BIG
    assert got[1].kwargs["before"] == "x" and got[1].kwargs["n"] == 3
    assert got[1].trace == "00-trace-span-01"  # every other field of the message kept
    assert got[5].value == "a small one behind"


@pytest.mark.parametrize("pieces", [3, 17])
def test_raw_frames_split_anywhere(pieces):
    small = b"y" * (RAW_MIN + 5)  # barely raw: the body starts in the shared buffer
    msgs = [
        Return(cid=1, value=BIG),
        Return(cid=2, value=small),
        Return(cid=3, value=[1, 2]),
        Return(cid=4, value=BIG),
    ]
    got = trio.run(lambda: through(msgs, pieces=pieces))
    assert [m.value for m in got] == [BIG, small, [1, 2], BIG]


def test_a_cancelled_read_of_a_raw_frame_resumes():
    frame = pack(Return(cid=9, value=BIG))
    assert isinstance(frame, RawFrame)
    data = bytes(frame.head) + bytes(frame.body)
    third = len(data) // 3

    async def main():
        writer, reader = await channel_pair()

        async def cancel_when_blocked(scope: trio.CancelScope) -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()

        async with trio.open_nursery() as n:
            n.start_soon(writer.stream.send_all, data[:third])
            with trio.CancelScope() as scope:
                n.start_soon(cancel_when_blocked, scope)
                await reader.recv()
            assert scope.cancelled_caught
        assert reader._partial is not None  # the header and the body so far are kept
        async with trio.open_nursery() as n:
            n.start_soon(writer.stream.send_all, data[third:])
            msg = await reader.recv()
        return msg

    msg = trio.run(main)
    assert msg.cid == 9 and msg.value == BIG


@pytest.mark.parametrize("in_place", [True, False], ids=["read-in-place", "copied"])
def test_a_raw_body_is_read_into_the_bytes_it_arrives_as(monkeypatch, in_place):
    """On CPython a raw frame's body is read straight into the ``bytes`` object its
    message carries (no channel buffer, no copy out of one); where that cannot be had
    (another Python, an object layout it does not recognise) it is read into the
    channel's large-frame buffer and copied out, as before. Either way: ``bytes``,
    intact, each value its own object."""
    if not in_place:
        monkeypatch.setattr(ipc, "_bytes_new", False)
    else:
        assert ipc._fresh_bytes(1) is not None  # CPython: the tests run on it

    async def main():
        writer, reader = await channel_pair()
        got = []
        async with trio.open_nursery() as n:
            n.start_soon(writer.send_raw, pack(Return(cid=1, value=BIG)))
            got.append(await reader.recv())
            n.start_soon(writer.send_raw, pack(Yield(cid=1, value=BIG[::-1])))
            got.append(await reader.recv())
        used_buffer = reader._big is not None
        await writer.aclose()
        await reader.aclose()
        return got, used_buffer

    (first, second), used_buffer = trio.run(main)
    assert type(first.value) is bytes and first.value == BIG
    assert type(second.value) is bytes and second.value == BIG[::-1]
    assert first.value is not second.value and hash(first.value) == hash(BIG)
    assert used_buffer is not in_place


def raw(head: bytes, body: bytes, *, head_len: int | None = None, body_len: int | None = None):
    """A hand-made raw frame (lengths as given, else the real ones)."""
    h = len(head) if head_len is None else head_len
    b = len(body) if body_len is None else body_len
    return _LENS.pack(RAW_FLAG | h, b) + head + body


PLACEHOLDER = msgspec.msgpack.Ext(RAW_EXT, b"devx-raw")


def test_a_small_hand_made_raw_frame_is_read_exactly():
    """A raw body smaller than the runtime would ever send, with the next frame in
    the same write: the body ends where it says, the next frame is read whole."""
    head = bytes(encode(Return(cid=1, value=PLACEHOLDER)))[4:]
    data = raw(head, b"tiny") + bytes(encode(Return(cid=2, value="next")))

    async def main():
        writer, reader = await channel_pair()
        await writer.stream.send_all(data)
        return [await reader.recv(), await reader.recv()]

    first, second = trio.run(main)
    assert (first.cid, first.value) == (1, b"tiny")
    assert (second.cid, second.value) == (2, "next")


_HEAD = bytes(encode(Return(cid=1, value=PLACEHOLDER)))[4:]
_TWICE = bytes(encode(Start(cid=1, ns="m", func="f", kwargs={"a": PLACEHOLDER, "b": PLACEHOLDER})))


@pytest.mark.parametrize(
    "data, says",
    [
        (raw(b"\xc1" * 10, b"body"), "undecodable raw frame from peer test peer"),
        (
            raw(bytes(encode(Return(cid=1, value=1)))[4:], b"body"),
            "undecodable raw frame from peer test peer: its header has no place for its body",
        ),
        (raw(_TWICE[4:], b"body"), "refers to its body twice"),
        (raw(_HEAD, b"", body_len=0), "sent a raw frame with a body of 0 bytes"),
        (raw(_HEAD, b"", body_len=(64 << 20)), f"sent a raw frame with a body of {64 << 20} bytes"),
        (raw(b"", b"", head_len=RAW_MIN), f"raw frame whose header is {RAW_MIN} bytes"),
        (raw(_HEAD, b"bo", body_len=10), "closed the connection in the middle of a frame"),
    ],
    ids=[
        "garbage-header",
        "no-placeholder",
        "two-placeholders",
        "empty-body",
        "huge-body",
        "huge-header",
        "cut-short",
    ],
)
def test_malformed_raw_frames_are_clear_errors(data, says):
    async def main():
        writer, reader = await channel_pair()
        await writer.stream.send_all(data)
        if says.startswith("closed"):
            await writer.aclose()
        with pytest.raises(MsgTypeError) as info:
            await reader.recv()
        return str(info.value)

    message = trio.run(main)
    assert says in message
    assert "test peer" in message


def test_a_raw_frame_before_authenticating_is_refused():
    async def main():
        writer, reader = await channel_pair()
        reader.max_frame = MAX_PREAUTH_FRAME
        await writer.stream.send_all(raw(_HEAD, b"body"))
        with pytest.raises(MsgTypeError) as info:
            await reader.recv()
        assert reader._big is None and reader._partial is None  # nothing allocated
        return str(info.value)

    assert "peer test peer sent a raw frame before authenticating" in trio.run(main)


# --- through real actors ------------------------------------------------------------------


def echo(data: bytes) -> bytes:
    return data


def kind_of(data: bytes) -> str:
    return f"{type(data).__name__} {len(data)} {data == BIG}"


def big_bytearray() -> bytearray:
    return bytearray(BIG)


async def big_items(n: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield BIG


@devx.context
async def big_context(ctx: devx.Context) -> bytes:
    await ctx.started(BIG)
    async with ctx.open_stream() as stream:
        async for item in stream:
            await stream.send(item)
    return BIG


def noop() -> None:
    return None


async def listen_addr() -> object:
    return await devx.current_actor().ensure_listener()


def test_large_payloads_round_trip_through_an_actor():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("raw", enable_modules=[__name__])
            got = await portal.run(echo, data=BIG)
            assert type(got) is bytes and got == BIG
            kinds = [
                await portal.run(kind_of, data=bytearray(BIG)),
                await portal.run(kind_of, data=memoryview(BIG)),
            ]
            assert kinds == [f"bytes {len(BIG)} True"] * 2
            assert await portal.run(big_bytearray) == BIG
            async with portal.open_stream_from(big_items, n=3) as items:
                assert [x == BIG async for x in items] == [True] * 3
            async with portal.open_context(big_context) as (ctx, first):
                assert first == BIG
                async with ctx.open_stream() as stream:
                    await stream.send(bytearray(BIG))
                    assert await stream.receive() == BIG
                assert await ctx.result() == BIG
            await an.cancel()

    trio.run(main)


def test_an_actor_closes_a_connection_that_sends_a_bad_raw_frame_and_serves_on(capfd):
    """An authenticated peer's malformed raw frame: that connection is closed with a
    clear error in the actor's log; the actor and its parent's calls carry on."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("served", enable_modules=[__name__])
            host, port = await portal.run(listen_addr)
            stream = await trio.open_tcp_stream(host, port)
            hello = Hello(
                uid=devx.current_actor().uid,
                secret=devx.current_actor().secret,
                pid=1,
                proto=PROTOCOL,
            )
            body = msgspec.msgpack.encode(hello)
            await stream.send_all(struct.pack(">I", len(body)) + body)
            await stream.receive_some(1000)  # HelloAck
            await stream.send_all(raw(b"\xc1" * 10, b"x" * 100))
            with trio.fail_after(scaled(10)):
                while await stream.receive_some(65536):  # until it closes on us
                    pass
            await stream.aclose()
            assert await portal.run(echo, data=BIG) == BIG
            await portal.run(noop)
            await an.cancel()

    trio.run(main)
    said = capfd.readouterr().err
    assert "undecodable raw frame from peer" in said and "closing the connection" in said


def test_a_raw_body_read_in_place_survives_an_aclose_while_it_is_read():
    """The bytes object a raw body is read into (ipc._fresh_bytes) is what the view
    the read writes through points at, and that view holds no reference to it: an
    aclose of the channel from another task while the read completing the body yields
    dropped the channel's reference, the object was freed and the message was then
    made of freed memory (before: 'corrupt', the bytes glibc's MALLOC_PERTURB_ fills
    freed memory with). The object now stays with its view until the message has it."""
    script = Path(__file__).parent / "scripts" / "raw_body_closed_mid_read.py"
    env = {**os.environ, "MALLOC_PERTURB_": "170"}
    res = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "intact", res.stdout + res.stderr
