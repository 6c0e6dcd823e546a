"""Framing over real sockets: frames split anywhere (inside the length prefix, at the
shared buffer's edge, across it), frames exactly the size of that buffer and one
byte over, large frames read into their own buffer (kept, reused, regrown), many
small frames in one write, a cancelled read of a large frame resumed, a peer that
closes mid-frame, and a huge size announced before authenticating (refused before
anything is allocated). Splits are made by writing part of a frame, waiting until
the reader is blocked on the rest (``wait_all_tasks_blocked``), then writing more."""

from __future__ import annotations

import itertools
import struct

import pytest
import trio
import trio.testing

from devx.runtime.errors import MsgTypeError
from devx.runtime.ipc import MAX_PREAUTH_FRAME, RECV_BUFFER, Channel, SendLock, encode
from devx.runtime.msgs import Return

pytestmark = pytest.mark.timeout(60)

_LEN = struct.Struct(">I")
_PATTERN = bytes(range(251))


def frame_of(total: int, cid: int = 1) -> tuple[bytes, bytes]:
    """A framed ``Return`` of exactly ``total`` bytes (prefix included) and its
    payload (recognizable bytes, so a shifted or mixed-up frame shows)."""
    n = total - 4
    while True:
        value = (_PATTERN * (n // len(_PATTERN) + 1))[:n]
        frame = bytes(encode(Return(cid=cid, value=value)))
        if len(frame) == total:
            return frame, value
        n += total - len(frame)
        assert n >= 0, total


async def connected_streams(kind: str) -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two ends of a real connection: an AF_UNIX socketpair ("uds") or TCP loopback."""
    if kind == "uds":
        a, b = trio.socket.socketpair()
        return trio.SocketStream(a), trio.SocketStream(b)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    first = await trio.open_tcp_stream("127.0.0.1", port)
    second = await listeners[0].accept()
    for listener in listeners:
        await listener.aclose()
    return first, second


@pytest.fixture(params=["uds", "tcp"])
def pair(request):
    """A factory of (raw writer socket stream, reading Channel) over a real socket."""

    async def make() -> tuple[trio.SocketStream, Channel]:
        writer, reader = await connected_streams(request.param)
        return writer, Channel(reader, peer_desc="test peer")

    return make


async def recv_in_pieces(
    writer: trio.SocketStream, chan: Channel, pieces: list[bytes]
) -> tuple[list, BaseException | None]:
    """Write ``pieces`` one at a time, each once the reader is blocked waiting for
    more; the messages read meanwhile (until EOF) and the error that ended reading."""
    got: list = []
    error: BaseException | None = None

    async def read() -> None:
        nonlocal error
        try:
            while (msg := await chan.recv()) is not None:
                got.append(msg)
        except Exception as exc:
            error = exc

    async with trio.open_nursery() as n:
        n.start_soon(read)
        for piece in pieces:
            await trio.testing.wait_all_tasks_blocked()
            await writer.send_all(piece)
        await trio.testing.wait_all_tasks_blocked()
        await writer.aclose()
    return got, error


async def read_all(writer: trio.SocketStream, chan: Channel, pieces: list[bytes]) -> list:
    got, error = await recv_in_pieces(writer, chan, pieces)
    if error is not None:
        raise error
    return got


def values(msgs: list) -> list[bytes]:
    assert all(isinstance(m, Return) for m in msgs), msgs
    return [m.value for m in msgs]


def split(data: bytes, *at: int) -> list[bytes]:
    cuts = [0, *at, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def test_encode_writes_the_length_in_place():
    frame = encode(Return(cid=7, value=b"x" * 100_000))
    assert isinstance(frame, bytearray)
    assert _LEN.unpack_from(frame)[0] == len(frame) - 4


@pytest.mark.parametrize(
    "cut",
    [1, 2, 3, 4, 5],
    ids=["in-prefix-1", "in-prefix-2", "in-prefix-3", "after-prefix", "in-body"],
)
def test_small_frame_split_anywhere(pair, cut):
    frame, value = frame_of(40)

    async def main():
        writer, chan = await pair()
        return values(await read_all(writer, chan, split(frame, cut, cut + 3)))

    assert trio.run(main) == [value]


@pytest.mark.parametrize("total", [RECV_BUFFER - 1, RECV_BUFFER, RECV_BUFFER + 1])
@pytest.mark.parametrize("pieces", [1, 3])
def test_frames_at_the_buffer_size(pair, total, pieces):
    """The largest frame the shared buffer holds, and one byte more (its own
    buffer), each followed by a small frame, whole or in pieces."""
    big, big_value = frame_of(total, cid=1)
    small, small_value = frame_of(30, cid=2)
    data = big + small
    cuts = [len(data) * i // pieces for i in range(1, pieces)]

    async def main():
        writer, chan = await pair()
        return values(await read_all(writer, chan, split(data, *cuts)))

    assert trio.run(main) == [big_value, small_value]


def test_frame_across_the_buffer_edge(pair):
    """A frame that starts near the end of the shared buffer and continues past it:
    the unread part moves to the front (overlapping itself) and reading goes on."""
    first, first_value = frame_of(RECV_BUFFER - 100, cid=1)
    second, second_value = frame_of(5000, cid=2)
    third, third_value = frame_of(RECV_BUFFER - 10, cid=3)  # needs the whole buffer
    data = first + second + third
    # the first write ends 50 bytes into the second frame
    cut1 = len(first) + 50
    cut2 = len(first) + len(second) + 7

    async def main():
        writer, chan = await pair()
        return values(await read_all(writer, chan, split(data, cut1, cut2)))

    assert trio.run(main) == [first_value, second_value, third_value]


def test_large_frames_kept_reused_and_regrown(pair):
    """Large frames (their own buffer, kept while they keep coming), a small one
    between (drops it), a larger one (a new buffer), each split mid-body and with
    its first bytes arriving behind the previous frame."""
    sizes = [3 << 20, 2 << 20, 40, (10 << 20) + 3, 1 << 20]
    frames = [frame_of(size, cid=i) for i, size in enumerate(sizes)]
    data = b"".join(f for f, _ in frames)
    cuts, pos = [], 0
    for f, _ in frames:
        cuts += [pos + 2, pos + len(f) // 2]
        pos += len(f)

    async def main():
        writer, chan = await pair()
        return values(await read_all(writer, chan, split(data, *cuts)))

    assert trio.run(main) == [v for _, v in frames]


def test_many_small_frames_in_one_write(pair):
    n = 20_000
    frames = [frame_of(40 + i % 50, cid=i) for i in range(n)]
    data = b"".join(f for f, _ in frames)

    async def main():
        writer, chan = await pair()
        got = await read_all(writer, chan, [data])
        return [m.cid for m in got], values(got)

    cids, got = trio.run(main)
    assert cids == list(range(n))
    assert got == [v for _, v in frames]


def test_a_cancelled_read_of_a_large_frame_resumes(pair):
    frame, value = frame_of(5 << 20)
    third = len(frame) // 3

    async def main():
        writer, chan = await pair()

        async def cancel_when_blocked(scope: trio.CancelScope) -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()

        async with trio.open_nursery() as n:
            n.start_soon(writer.send_all, frame[:third])
            with trio.CancelScope() as scope:
                n.start_soon(cancel_when_blocked, scope)
                await chan.recv()
            assert scope.cancelled_caught
        assert chan._partial is not None  # what arrived of the body is kept
        async with trio.open_nursery() as n:
            n.start_soon(writer.send_all, frame[third:])
            msg = await chan.recv()
        await writer.aclose()
        return msg.value

    assert trio.run(main) == value


@pytest.mark.parametrize("where", [2, 10, 70_000], ids=["in-prefix", "in-small", "in-large"])
def test_peer_closing_mid_frame_is_a_clear_error(pair, where):
    frame, _ = frame_of(200_000 if where == 70_000 else 40)

    async def main():
        writer, chan = await pair()
        return await recv_in_pieces(writer, chan, [frame[:where]])

    got, error = trio.run(main)
    assert got == []
    assert isinstance(error, MsgTypeError)
    assert "peer test peer closed the connection in the middle of a frame" in str(error)


def test_garbage_frame_is_a_clear_error(pair):
    body = b"\xc1" * 10  # never valid msgpack
    bad = _LEN.pack(len(body)) + body

    async def main():
        writer, chan = await pair()
        return await recv_in_pieces(writer, chan, [bad])

    _, error = trio.run(main)
    assert isinstance(error, MsgTypeError)
    assert "undecodable frame from peer test peer" in str(error)


@pytest.mark.parametrize("size", [MAX_PREAUTH_FRAME + 1, 64 << 20, (1 << 32) - 1])
def test_huge_size_before_authenticating_is_refused_unread(pair, size):
    """A peer that has not authenticated announces a huge frame: refused from the
    length prefix alone, naming the peer; no buffer for it, its bytes not read."""

    async def main():
        writer, chan = await pair()
        chan.max_frame = MAX_PREAUTH_FRAME
        got, error = await recv_in_pieces(writer, chan, [_LEN.pack(size) + b"\0" * 1000])
        assert got == [] and isinstance(error, MsgTypeError)
        assert chan._big is None and chan._partial is None
        return str(error)

    message = trio.run(main)
    assert f"peer test peer sent a frame of {size} bytes" in message
    assert f"max {MAX_PREAUTH_FRAME} before authenticating" in message


# --- send_nowait: a frame sent from synchronous code (a REPL's `c` releasing the lock)


@pytest.fixture(params=["uds", "tcp"])
def channels(request):
    """A factory of (sending Channel, receiving Channel) over a real socket."""

    async def make() -> tuple[Channel, Channel]:
        sender, receiver = await connected_streams(request.param)
        return Channel(sender), Channel(receiver)

    return make


async def receive(chan: Channel, n: int) -> list:
    return [await chan.recv() for _ in range(n)]


@pytest.mark.parametrize("then", ["flush", "next frame"])
def test_send_nowait_a_frame_the_socket_takes_only_part_of_goes_out_whole(channels, then):
    """The socket's buffer takes only the start of a large frame: it counts as sent,
    and its rest goes out ahead of anything else (``flush``, or the next frame)."""
    big, big_value = frame_of(8 << 20, cid=1)
    small, small_value = frame_of(40, cid=2)

    async def main() -> tuple[bool, bool, list]:
        sender, receiver = await channels()
        sent = sender.send_nowait(bytearray(big))
        partly = sender._unsent is not None
        got: list = []
        async with trio.open_nursery() as n:

            async def read() -> None:
                got.extend(await receive(receiver, 2))

            n.start_soon(read)
            if then == "flush":
                await sender.flush()
            await sender.send_raw(bytearray(small))
        return sent, partly, got

    sent, partly, got = trio.run(main)
    assert sent and partly  # more than a socket buffer: only part went out at once
    assert values(got) == [big_value, small_value]


def test_send_nowait_sends_nothing_while_another_task_sends_or_once_closed(channels):
    big, big_value = frame_of(8 << 20, cid=1)
    small, small_value = frame_of(40, cid=2)

    async def main() -> tuple[bool, bool, bool, list]:
        sender, receiver = await channels()
        async with trio.open_nursery() as n:
            n.start_soon(sender.send_raw, bytearray(big))
            await trio.testing.wait_all_tasks_blocked()  # mid-frame: the peer reads nothing
            busy = sender.send_nowait(bytearray(small))
            got = await receive(receiver, 1)
        free = sender.send_nowait(bytearray(small))
        got += await receive(receiver, 1)
        await sender.aclose()
        closed = sender.send_nowait(bytearray(small))
        return busy, free, closed, got

    busy, free, closed, got = trio.run(main)
    assert (busy, free, closed) == (False, True, False)
    assert values(got) == [big_value, small_value]  # the refused frame never went out


def test_the_send_lock_hands_over_in_order_and_frees_itself_past_cancelled_waiters():
    """SendLock: waiters get it first come, first served; one cancelled while it waits
    is skipped, and with only cancelled ones left the holder's release frees it (a
    waiter count out of step with the lot would leave it held by nobody)."""

    async def main() -> tuple[list[str], bool, bool]:
        lock = SendLock()
        order: list[str] = []
        assert lock.acquire_nowait()

        async def waiter(name: str, scope: trio.CancelScope) -> None:
            with scope:
                await lock.acquire()
                order.append(name)
                lock.release()

        scopes = {name: trio.CancelScope() for name in "abc"}
        async with trio.open_nursery() as nursery:
            for name in "abc":
                nursery.start_soon(waiter, name, scopes[name])
                await trio.testing.wait_all_tasks_blocked()
            scopes["b"].cancel()  # b leaves the queue; its count comes back when it runs
            lock.release()  # to a
        freed_after_order = not lock.locked()
        # only a cancelled waiter: the release frees the lock
        assert lock.acquire_nowait()
        gone = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter, "d", gone)
            await trio.testing.wait_all_tasks_blocked()
            gone.cancel()
            lock.release()  # before d has run its cancel: the lot is empty already
        return order, freed_after_order, lock.acquire_nowait()

    order, freed, free_again = trio.run(main)
    assert order == ["a", "c"]
    assert freed and free_again
