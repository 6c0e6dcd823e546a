"""``portal.run`` round trip against a raw trio socketpair echo.

Raw echo: one small frame written to a trio socketpair and echoed back by another
task in the same process (the issue's baseline), and the same with the echo in a
second trio process (the floor for any cross-process request/response: two process
wake-ups per round trip). devx: an empty ``portal.run(noop)`` to a child actor
(encode, frame, send over loopback TCP or a Unix socket, dispatch, reply, decode).
Mean over N calls after warm-up, medians of interleaved rounds, printed with the
ratios (target: <= 3x the first).
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from typing import Any

import trio

import devx

N = 3000


def noop() -> None:
    return None


async def anoop() -> None:
    return None


async def raw_echo() -> float:
    a, b = trio.socket.socketpair()
    sa, sb = trio.SocketStream(a), trio.SocketStream(b)
    payload = b"\x00\x00\x00\x10" + b"x" * 16

    async def echo() -> None:
        while data := await sb.receive_some(65536):
            await sb.send_all(data)

    async with trio.open_nursery() as n:
        n.start_soon(echo)
        for _ in range(200):
            await sa.send_all(payload)
            await sa.receive_some(65536)
        t0 = time.perf_counter()
        for _ in range(N):
            await sa.send_all(payload)
            await sa.receive_some(65536)
        dt = (time.perf_counter() - t0) / N
        await sa.aclose()
    await sb.aclose()
    return dt


_ECHO_SERVER = """
import socket, sys, trio
async def serve(fd):
    s = trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
    while data := await s.receive_some(65536):
        await s.send_all(data)
trio.run(serve, int(sys.argv[1]))
"""


async def raw_echo_two_processes() -> float:
    """The same echo with the echoing side in another trio process: the floor for
    any cross-process request/response on this machine."""
    import socket

    a, b = socket.socketpair()
    async with trio.open_nursery() as n:
        proc = await n.start(
            functools.partial(
                trio.run_process,
                [sys.executable, "-c", _ECHO_SERVER, str(b.fileno())],
                pass_fds=(b.fileno(),),
            )
        )
        b.close()
        sa = trio.SocketStream(trio.socket.from_stdlib_socket(a))
        payload = b"\x00\x00\x00\x10" + b"x" * 16
        for _ in range(200):
            await sa.send_all(payload)
            await sa.receive_some(65536)
        t0 = time.perf_counter()
        for _ in range(N):
            await sa.send_all(payload)
            await sa.receive_some(65536)
        dt = (time.perf_counter() - t0) / N
        await sa.aclose()
        del proc
    return dt


async def devx_roundtrip(transport: str = "tcp", fn: Any = noop) -> float:
    async with devx.open_nursery(name="bench", transport=transport, telemetry="off") as an:
        portal = await an.start_actor("echo", enable_modules=[__name__])
        for _ in range(200):
            await portal.run(fn)
        t0 = time.perf_counter()
        for _ in range(N):
            await portal.run(fn)
        return (time.perf_counter() - t0) / N


ROUNDS = 5


async def main() -> None:
    """Every measurement ``ROUNDS`` times, interleaved, so that a noisy neighbour on
    the machine hits all of them alike; medians and the ratios of the medians."""
    runs: dict[str, list[float]] = {"raw": [], "cross": [], "tcp": [], "uds": [], "async": []}
    for _ in range(ROUNDS):
        runs["raw"].append(await raw_echo())
        runs["cross"].append(await raw_echo_two_processes())
        for transport in ("tcp", "uds"):
            runs[transport].append(await devx_roundtrip(transport))
        runs["async"].append(await devx_roundtrip("tcp", anoop))
    med = {k: statistics.median(v) for k, v in runs.items()}
    raw, cross = med["raw"], med["cross"]
    print(f"medians of {ROUNDS} interleaved rounds x {N} calls")
    print(f"raw trio socketpair echo, 1 process   : {raw * 1e6:7.1f} us")
    print(f"raw trio socketpair echo, 2 processes : {cross * 1e6:7.1f} us (cross-process floor)")
    for transport in ("tcp", "uds"):
        rt = med[transport]
        print(
            f"devx portal.run(noop) over {transport}     : {rt * 1e6:7.1f} us  "
            f"ratio {rt / raw:5.2f}x (target <= 3x), {rt / cross:4.2f}x the 2-process floor"
        )
    rt = med["async"]
    print(
        f"  the same, async def noop, tcp  : {rt * 1e6:7.1f} us  ratio {rt / raw:5.2f}x "
        "(a task per call)"
    )


if __name__ == "__main__":
    trio.run(main)
