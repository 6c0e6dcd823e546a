"""The IPC hot paths against their 2-process floors, interleaved in one run.

- round trip: ``portal.run(noop)`` (sync) and ``portal.run(anoop)`` (async) against a
  2-process framed echo of a small frame (length prefix + body read, written back);
- 10 MiB: ``portal.run(echo, data=<10 MiB bytes>)`` against the same framed echo of
  a 10 MiB frame (each side reads the whole frame before it writes);
- streaming: 100k ints through ``open_stream_from`` and through a context stream,
  against a child process writing 100k msgpack frames that the parent reads,
  splits and decodes one by one.

Every measurement runs once per round (blocks of ``CALLS`` calls), the rounds
interleaved so a busy neighbour hits all alike, against one floor process kept for
the run; the table prints medians and the ratios of the medians. Defaults as a user
gets them (telemetry at its default). Run: ``python bench/bench_ipc_paths.py
[rounds]``; ``--only rt|big|stream`` narrows it; ``--transport uds`` runs devx
over Unix sockets and the floor over a socketpair (default: loopback TCP for both).
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import statistics
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

import devx

CALLS = 500
BIG = 10 * 1024 * 1024
BIG_CALLS = 4
STREAM_N = 100_000
_LEN = struct.Struct(">I")


def noop() -> None:
    return None


async def anoop() -> None:
    return None


async def acheckpoint() -> None:
    await trio.lowlevel.checkpoint()


def echo(data: bytes) -> bytes:
    return data


async def gen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@devx.context
async def ctx_produce(ctx: devx.Context, n: int) -> None:
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)


# --- the floor: a plain trio process on the other end of a socket ------------------------

_FLOOR = r"""
import socket, struct, sys, msgspec, trio
LEN = struct.Struct(">I")

async def read_frame(s, buf):
    while len(buf) < 4:
        chunk = await s.receive_some(65536)
        if not chunk:
            return None
        buf += chunk
    (size,) = LEN.unpack_from(buf)
    parts, have = [bytes(buf[4:])], len(buf) - 4
    del buf[:]
    while have < size:
        chunk = await s.receive_some(max(65536, size - have))
        parts.append(chunk)
        have += len(chunk)
    body = b"".join(parts)
    buf += body[size:]
    return body[:size]

async def main(fd):
    s = trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
    buf, enc = bytearray(), msgspec.msgpack.Encoder()
    while (body := await read_frame(s, buf)) is not None:
        if body[:1] == b"S":  # stream: that many msgpack ints, one frame each
            for i in range(int(body[1:])):
                item = enc.encode(i)
                await s.send_all(LEN.pack(len(item)) + item)
        else:  # echo
            await s.send_all(LEN.pack(len(body)) + body)

trio.run(main, int(sys.argv[1]))
"""


def _pair(transport: str) -> tuple[socket.socket, socket.socket]:
    """Two connected sockets: loopback TCP, or a Unix socketpair for ``uds``."""
    if transport == "uds":
        return socket.socketpair()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    return a, b


TRANSPORT = "tcp"  # set from argv


async def _read_frame(s: trio.SocketStream, buf: bytearray) -> bytes:
    while len(buf) < 4:
        buf += await s.receive_some(65536)
    (size,) = _LEN.unpack_from(buf)
    parts, have = [bytes(buf[4:])], len(buf) - 4
    del buf[:]
    while have < size:
        chunk = await s.receive_some(max(65536, size - have))
        parts.append(chunk)
        have += len(chunk)
    body = b"".join(parts)
    buf += body[size:]
    return body[:size]


class Floor:
    """The floor process: echoes frames, or streams ints on request."""

    def __init__(self, s: trio.SocketStream):
        self.s = s
        self.buf = bytearray()

    async def echo(self, frame: bytes) -> None:
        await self.s.send_all(frame)
        await _read_frame(self.s, self.buf)

    async def stream(self, n: int) -> float:
        """Messages per second: ``n`` msgpack ints framed one by one by the floor
        process, read, split and decoded here."""
        dec = msgspec.msgpack.Decoder(int)
        ask = b"S%d" % n
        t0 = time.perf_counter()
        await self.s.send_all(_LEN.pack(len(ask)) + ask)
        buf, got = self.buf, 0
        while got < n:
            buf += await self.s.receive_some(65536)
            pos = 0
            while len(buf) - pos >= 4:
                (size,) = _LEN.unpack_from(buf, pos)
                if len(buf) - pos - 4 < size:
                    break
                dec.decode(memoryview(buf)[pos + 4 : pos + 4 + size])
                pos += 4 + size
                got += 1
            del buf[:pos]
        return n / (time.perf_counter() - t0)


@asynccontextmanager
async def open_floor() -> AsyncIterator[Floor]:
    a, b = _pair(TRANSPORT)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(
                trio.run_process,
                [sys.executable, "-c", _FLOOR, str(b.fileno())],
                pass_fds=(b.fileno(),),
            )
        )
        b.close()
        s = trio.SocketStream(trio.socket.from_stdlib_socket(a))
        try:
            yield Floor(s)
        finally:
            await s.aclose()


# --- devx ---------------------------------------------------------------------------------


async def per_call(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(max(3, calls // 10)):
        await fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - t0) / calls


async def devx_stream(portal: devx.Portal, n: int) -> float:
    t0 = time.perf_counter()
    got = 0
    async with portal.open_stream_from(gen, n=n) as items:
        async for _ in items:
            got += 1
    assert got == n
    return n / (time.perf_counter() - t0)


async def devx_ctx_stream(portal: devx.Portal, n: int) -> float:
    t0 = time.perf_counter()
    got = 0
    async with portal.open_context(ctx_produce, n=n) as (ctx, _):
        async with ctx.open_stream() as stream:
            async for _ in stream:
                got += 1
    assert got == n
    return n / (time.perf_counter() - t0)


async def main(rounds: int, only: str | None, as_json: bool = False) -> None:
    runs: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        runs.setdefault(key, []).append(value)

    data = b"x" * BIG
    small, big = _LEN.pack(16) + b"x" * 16, _LEN.pack(BIG) + data
    async with open_floor() as floor, devx.open_nursery(name="bench", transport=TRANSPORT) as an:
        portal = await an.start_actor("ipc", enable_modules=[__name__])
        await per_call(lambda: portal.run(noop), 500)  # warm: imports, telemetry load
        for _ in range(rounds):
            if only in (None, "rt"):
                add("floor_rt", await per_call(lambda: floor.echo(small), CALLS))
                add("sync", await per_call(lambda: portal.run(noop), CALLS))
                add("async", await per_call(lambda: portal.run(anoop), CALLS))
                add("async_wait", await per_call(lambda: portal.run(acheckpoint), CALLS))
            if only in (None, "big"):
                add("floor_big", await per_call(lambda: floor.echo(big), BIG_CALLS))
                add("big", await per_call(lambda: portal.run(echo, data=data), BIG_CALLS))
            if only in (None, "stream"):
                add("floor_stream", await floor.stream(STREAM_N))
                add("stream", await devx_stream(portal, STREAM_N))
                add("ctx_stream", await devx_ctx_stream(portal, STREAM_N))
        await portal.cancel_actor()

    med = {k: statistics.median(v) for k, v in runs.items()}
    if as_json:
        print(json.dumps(med))
        return
    print(f"medians of {rounds} interleaved rounds, transport {TRANSPORT} (the floor's too)")
    print(f"{'what':34} {'devx':>12} {'floor':>12} {'ratio':>7}  target")
    if "sync" in med:
        f = med["floor_rt"]
        for key, label, extra in (
            ("sync", "portal.run sync round trip", "<= 1.5x"),
            ("async", "portal.run async (no await)", "{:.2f}x sync (<= 1.15x)"),
            ("async_wait", "portal.run async (1 checkpoint)", "{:.2f}x sync"),
        ):
            print(
                f"{label:34} {med[key] * 1e6:9.1f} us {f * 1e6:9.1f} us {med[key] / f:6.2f}x  "
                + extra.format(med[key] / med["sync"])
            )
    if "big" in med:
        f = med["floor_big"]
        print(
            f"{'10 MiB echo':34} {med['big'] * 1e3:9.1f} ms "
            f"{f * 1e3:9.1f} ms {med['big'] / f:6.2f}x  <= 1.3x"
        )
    if "stream" in med:
        f = med["floor_stream"]
        for key, label in (("stream", "open_stream_from"), ("ctx_stream", "context stream")):
            print(
                f"{label + ' 100k ints':34} {med[key]:8,.0f}/s {f:8,.0f}/s "
                f"{med[key] / f:6.2f}x  >= 0.9x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", nargs="?", type=int, default=15)
    parser.add_argument("--only", choices=("rt", "big", "stream"))
    parser.add_argument("--transport", choices=("tcp", "uds"), default="tcp")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    TRANSPORT = args.transport
    trio.run(main, args.rounds, args.only, args.json)
