"""Calls, payloads and streams at devx's defaults against a 2-process framed floor.

devx (one child actor, telemetry default, the defaults: its channel to the parent is
an AF_UNIX socketpair made at the spawn):
- ``portal.run(noop)`` sync round trip, an ``async def`` noop against it, an ``async
  def`` that awaits a checkpoint, and a context opened, ``started`` and exited;
- a 10 MiB ``bytes`` argument echoed back (``portal.run(echo, data=...)``);
- ``open_stream_from`` of 100k ints, messages per second.

Floor: two trio processes speaking length-prefixed frames (a 4-byte big-endian length,
as devx's) over the same transport, an AF_UNIX socketpair whose end the child inherits:
a 64-byte frame echoed; a 10 MiB frame echoed, large
bodies read into a buffer of the announced size; 100k frames of msgpack ints streamed,
each sent on its own and decoded on arrival.

Both sides run from one sample process (the devx root and the floor's parent), in
alternating blocks (calls: short ones, the order rotating, each figure the median of its
blocks), pairs (echoes) and either order (streams), so that a busy machine weighs on a
figure and its floor at the same moments.

Targets: sync <= 1.5x the echo, async <= 1.15x sync, 10 MiB <= 1.3x, streaming >= 0.9x.

    python bench/bench_roundtrip.py                    # BENCH_QUICK=1: a smoke run
"""

from __future__ import annotations

import functools
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

import devx

CALLS = 2000
# per sample: floor, sync, async, checkpoint and context calls in short blocks (tens of
# ms each), the order rotating; a figure is the median of its blocks, so a burst of load
# on the box lands in a few blocks of each, not in one figure's whole measurement
BLOCKS = 20
BIG = 10 * 1024 * 1024
ECHOES = 5
STREAM = 100_000
LEN = struct.Struct(">I")


# --- what the child actor runs --------------------------------------------------------


def noop() -> None:
    return None


async def anoop() -> None:
    return None


async def acheckpoint() -> None:
    await trio.sleep(0)  # an async fn that awaits: it needs a task of its own


@devx.context
async def ctx_noop(ctx: devx.Context) -> None:
    await ctx.started()


def echo(data: bytes) -> bytes:
    return data


async def count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


# --- the floor: framed messages between two plain trio processes ----------------------


async def send_all(sock: trio.socket.SocketType, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[await sock.send(view) :]


class Reader:
    """Frames off a socket: small ones parsed out of one buffer, a large one read
    straight into a buffer of its announced size."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.buf = bytearray()

    async def _more(self) -> None:
        data = await self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    async def frame(self) -> bytes | bytearray:
        while len(self.buf) < 4:
            await self._more()
        (n,) = LEN.unpack_from(self.buf)
        have = len(self.buf) - 4
        if have < n and n > 65536:
            body = bytearray(n)
            body[:have] = memoryview(self.buf)[4:]
            self.buf.clear()
            view = memoryview(body)
            while have < n:
                k = await self.sock.recv_into(view[have:])
                if not k:
                    raise EOFError
                have += k
            return body
        while len(self.buf) - 4 < n:
            await self._more()
        body = bytes(self.buf[4 : 4 + n])
        del self.buf[: 4 + n]
        return body


async def floor_child_main(mode: str, fd: int, n: int) -> None:
    """The other process: echo every frame, or on a first frame stream ``n`` ints,
    over its inherited end ``fd`` of the socketpair."""
    sock = trio.socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
    os.close(fd)  # fromfd made a duplicate
    reader = Reader(sock)
    try:
        await send_all(sock, LEN.pack(0))  # up: the parent times nothing before this
        if mode == "echo":
            while True:
                body = await reader.frame()
                if len(body) <= 65536:  # one write, as a sender of a small frame does
                    await send_all(sock, LEN.pack(len(body)) + body)
                else:  # a large one: no copy to prepend the length
                    await send_all(sock, LEN.pack(len(body)))
                    await send_all(sock, body)
        await reader.frame()
        encode = msgspec.msgpack.encode
        for i in range(n):
            body = encode(i)
            await send_all(sock, LEN.pack(len(body)) + body)
    except EOFError:
        pass
    finally:
        sock.close()


@functools.lru_cache(maxsize=1)
def _big() -> bytes:
    return bytes(range(256)) * (BIG // 256)


@asynccontextmanager
async def floor_child(mode: str, n: int) -> AsyncIterator[tuple[trio.socket.SocketType, Reader]]:
    """A floor child process (``mode``: echo or stream) over an AF_UNIX socketpair
    whose other end it inherits, as a devx child's channel to its parent is."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    argv = [sys.executable, __file__, "--floor-child", mode, str(theirs.fileno()), str(n)]
    run = functools.partial(trio.run_process, argv, check=True, pass_fds=(theirs.fileno(),))
    async with trio.open_nursery() as tn:
        await tn.start(run)  # spawned: its copy of the fd is in the child now
        theirs.close()
        sock = trio.socket.from_stdlib_socket(mine)
        reader = Reader(sock)
        try:
            await reader.frame()  # the child is up (its start is not the floor's cost)
            yield sock, reader
        finally:
            sock.close()


async def floor_calls(sock: trio.socket.SocketType, reader: Reader, calls: int) -> float:
    small = LEN.pack(64) + b"x" * 64
    t0 = time.perf_counter()
    for _ in range(calls):
        await send_all(sock, small)
        await reader.frame()
    return (time.perf_counter() - t0) / calls


async def floor_echo(sock: trio.socket.SocketType, reader: Reader) -> float:
    big = _big()
    t0 = time.perf_counter()
    await send_all(sock, LEN.pack(len(big)))
    await send_all(sock, big)
    got = await reader.frame()
    dt = time.perf_counter() - t0
    assert len(got) == len(big)
    return dt


async def floor_stream(n: int) -> float:
    decode = msgspec.msgpack.decode
    async with floor_child("stream", n) as (sock, reader):
        t0 = time.perf_counter()
        await send_all(sock, LEN.pack(0))
        for i in range(n):
            assert decode(await reader.frame()) == i
        return n / (time.perf_counter() - t0)


# --- devx -----------------------------------------------------------------------------


async def devx_calls(portal: Any, fn: Any, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        await portal.run(fn)
    return (time.perf_counter() - t0) / calls


async def devx_contexts(portal: Any, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        async with portal.open_context(ctx_noop):
            pass
    return (time.perf_counter() - t0) / calls


async def devx_echo(portal: Any) -> float:
    big = _big()
    t0 = time.perf_counter()
    got = await portal.run(echo, data=big)
    dt = time.perf_counter() - t0
    assert len(got) == len(big)
    return dt


async def devx_stream(portal: Any, n: int) -> float:
    t0 = time.perf_counter()
    seen = 0
    async with portal.open_stream_from(count, n=n) as items:
        async for _ in items:
            seen += 1
    assert seen == n
    return n / (time.perf_counter() - t0)


# --- one sample: devx and the floor side by side in one process -----------------------


async def ipc_sample(calls: int, echoes: int, stream: int) -> dict[str, object]:
    """A devx child actor (defaults) and a floor child, measured in alternating blocks
    in this one process, so that both see the same moment of a busy machine."""
    import devx

    per: dict[str, list[float]] = {k: [] for k in ("floor_rt", "rt", "async", "async_ckpt", "ctx")}
    big: dict[str, list[float]] = {"floor_echo_big": [], "echo_big": []}
    out: dict[str, object] = {}
    async with devx.open_nursery(name="bench") as an:
        portal = await an.start_actor("echo", enable_modules=[__name__])
        async with floor_child("echo", 0) as (sock, reader):
            runs: list[tuple[str, Any]] = [
                ("floor_rt", lambda k: floor_calls(sock, reader, k)),
                ("rt", lambda k: devx_calls(portal, noop, k)),
                ("async", lambda k: devx_calls(portal, anoop, k)),
                ("async_ckpt", lambda k: devx_calls(portal, acheckpoint, k)),
                ("ctx", lambda k: devx_contexts(portal, k)),
            ]
            for _key, run in runs:  # warm-up
                await run(min(200, calls))
            for b in range(BLOCKS):  # the order rotates block by block
                for key, run in runs[b % len(runs) :] + runs[: b % len(runs)]:
                    per[key].append(await run(calls // BLOCKS))
            echoes_: list[tuple[str, Any]] = [
                ("floor_echo_big", lambda: floor_echo(sock, reader)),
                ("echo_big", lambda: devx_echo(portal)),
            ]
            for i in range(echoes + 1):
                for key, run in echoes_ if i % 2 else echoes_[::-1]:
                    dt = await run()
                    if i:  # the first of each warms the buffers
                        big[key].append(dt)
        streams: list[tuple[str, Any]] = [
            ("floor_stream", lambda: floor_stream(stream)),
            ("stream", lambda: devx_stream(portal, stream)),
        ]
        for key, run in streams if os.getpid() % 2 else streams[::-1]:  # either order
            out[key] = await run()
    out.update({k: statistics.median(v) for k, v in per.items()})
    out.update(big)
    return out


def sample(argv: list[str]) -> None:
    from common import emit

    calls, echoes, stream = map(int, argv[1:4])
    emit(trio.run(ipc_sample, calls, echoes, stream))


def phases() -> list:
    from common import Phase, Row, Target, quick, sample_kind, smoke

    q = quick()
    sizes = (50, 1, 1000) if smoke() else (500, 3, 20_000) if q else (CALLS, ECHOES, STREAM)
    args = [str(x) for x in sizes]
    kinds = [sample_kind("ipc", "bench_roundtrip.py", "ipc", *args)]
    rows = [
        Row(
            "portal.run sync round trip",
            "µs",
            ("ipc", "rt"),
            ("ipc", "floor_rt"),
            Target("ratio", "<=", 1.3),
            1e6,
            paired=True,
            note="floor: 2-process framed echo, AF_UNIX socketpair",
        ),
        Row(
            "async fn with a checkpoint",
            "µs",
            ("ipc", "async_ckpt"),
            ("ipc", "floor_rt"),
            Target("ratio", "<=", 1.5),
            1e6,
            paired=True,
            note="floor: the framed echo",
        ),
        Row(
            "context open → started → result",
            "µs",
            ("ipc", "ctx"),
            ("ipc", "rt"),
            Target("ratio", "<=", 2.0),
            1e6,
            paired=True,
            note="floor column = the sync portal.run",
        ),
        Row(
            "async def call vs sync call",
            "µs",
            ("ipc", "async"),
            ("ipc", "rt"),
            Target("ratio", "<=", 1.15),
            1e6,
            paired=True,
            note="floor column = the sync call",
        ),
        Row(
            "10 MiB echo",
            "ms",
            ("ipc", "echo_big"),
            ("ipc", "floor_echo_big"),
            Target("ratio", "<=", 1.2),
            1e3,
            paired=True,
        ),
        Row(
            f"streaming {args[2]} ints (open_stream_from)",
            "msg/s",
            ("ipc", "stream"),
            ("ipc", "floor_stream"),
            Target("ratio", ">=", 0.9),
            paired=True,
        ),
    ]
    return [Phase("ipc", kinds, 1 if smoke() else 3 if q else 7, rows)]


def main() -> None:
    import common

    common.run(phases())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sample"]:
        sample(sys.argv[2:])
    elif sys.argv[1:2] == ["--floor-child"]:
        trio.run(floor_child_main, sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
