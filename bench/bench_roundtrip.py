"""``portal.run`` round trip against a raw trio socketpair echo.

Raw echo: one small frame written to a trio socketpair and echoed back by another
task in the same process (the floor for a trio request/response). devx: an empty
``portal.run(noop)`` to a child actor (encode, frame, send over loopback TCP,
dispatch, reply, decode). Mean over N calls after warm-up, printed with the ratio
(target: <= 3x).
"""

from __future__ import annotations

import time

import trio

import devx

N = 3000


def noop() -> None:
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


async def devx_roundtrip() -> float:
    async with devx.open_nursery(name="bench") as an:
        portal = await an.start_actor("echo", enable_modules=[__name__])
        for _ in range(200):
            await portal.run(noop)
        t0 = time.perf_counter()
        for _ in range(N):
            await portal.run(noop)
        return (time.perf_counter() - t0) / N


async def main() -> None:
    raw = await raw_echo()
    rt = await devx_roundtrip()
    print(f"raw trio socketpair echo: {raw * 1e6:7.1f} us (mean of {N})")
    print(f"devx portal.run(noop)   : {rt * 1e6:7.1f} us (mean of {N})")
    print(f"ratio                   : {rt / raw:7.2f}x (target <= 3x)")


if __name__ == "__main__":
    trio.run(main)
