"""A raw frame's body read in place (ipc._fresh_bytes) while another task closes the
channel: the reader's read that completes the body yields (every YIELD_EVERY reads
in a row), and the closer's aclose runs right there (trio may run the reader on
before the closer: then again, up to 60 times). Prints what recv returned: 'intact'
when the body arrived whole. Run with MALLOC_PERTURB_ set, so that memory
freed under the reader would show (glibc fills it)."""

from __future__ import annotations

import socket

import msgspec
import trio

from devx.runtime import ipc
from devx.runtime.ipc import RAW_EXT, RAW_FLAG, Channel, encode
from devx.runtime.msgs import Return

BODY = b"0123456789abcdef" * (100_000 // 16)  # over the channel's buffer: two reads


async def attempt() -> str | None:
    a, b = socket.socketpair()
    placeholder = msgspec.msgpack.Ext(RAW_EXT, b"devx-raw")
    head = bytes(encode(Return(cid=1, value=placeholder)))[4:]
    frame = (RAW_FLAG | len(head)).to_bytes(4, "big") + len(BODY).to_bytes(4, "big")
    frame += head + BODY
    assert a.send(frame) == len(frame)  # all of it waits in the socket's buffer
    reader = Channel(trio.SocketStream(trio.socket.from_stdlib_socket(b)), peer_desc="test peer")
    # the reads: the channel's buffer's (15th in a row), then the rest of the body's
    # (16th: the yield, with the body complete)
    reader._wait_first = False
    reader._reads_in_a_row = ipc.YIELD_EVERY - 2
    got: list = []
    closed: list = []

    async def read() -> None:
        got.append(await reader.recv())

    async def close() -> None:
        while not got:
            await trio.lowlevel.checkpoint()
            try:
                b.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:  # all of it taken: the reader yields after its read
                if reader._partial is not None:
                    closed.append(True)
                    await reader.aclose()
                    return
        closed.append(False)  # the reader went on first

    async with trio.open_nursery() as n:
        n.start_soon(read)
        n.start_soon(close)
    a.close()
    if not closed[0]:
        await reader.aclose()
        return None
    value = got[0].value
    return "intact" if value == BODY else f"corrupt: {bytes(value[:16])!r}"


async def main() -> str:
    for _ in range(60):
        if (said := await attempt()) is not None:
            return said
    return "never caught the reader at its yield"


print(trio.run(main), flush=True)
