"""Context functions the context tests open in child actors (an importable module)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import trio

import devx


class CtxBoom(Exception):
    pass


@devx.context
async def echo(ctx: devx.Context, n: int) -> str:
    await ctx.started(n * 2)
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg + 1)
    return "done"


@devx.context
async def just_return(ctx: devx.Context, value: int) -> int:
    await ctx.started(value)
    return value + 1


@devx.context
async def fail_before_started(ctx: devx.Context) -> None:
    raise CtxBoom("before started")


@devx.context
async def fail_after_started(ctx: devx.Context) -> None:
    await ctx.started("ok")
    raise CtxBoom("after started")


@devx.context
async def fail_on_message(ctx: devx.Context) -> None:
    """Fails when the caller sends its first stream message."""
    await ctx.started()
    async with ctx.open_stream() as stream:
        msg = await stream.receive()
        raise CtxBoom(f"got {msg}")


@devx.context
async def wait_forever(ctx: devx.Context, marker: str) -> None:
    """Started, then sleep until cancelled; write ``cancelled`` to ``marker`` then."""
    await ctx.started()
    try:
        await trio.sleep_forever()
    except trio.Cancelled:
        Path(marker).write_text("cancelled")
        raise


@devx.context
async def stream_forever(ctx: devx.Context, marker: str) -> None:
    """Started and a stream; echoes until cancelled (``marker`` records it)."""
    await ctx.started()
    try:
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await stream.send(msg)
            await trio.sleep_forever()
    except trio.Cancelled:
        Path(marker).write_text("cancelled")
        raise


@devx.context
async def started_twice(ctx: devx.Context) -> None:
    await ctx.started(1)
    await ctx.started(2)


@devx.context
async def stream_before_started(ctx: devx.Context) -> None:
    async with ctx.open_stream():
        pass


@devx.context
async def send_after_close(ctx: devx.Context) -> None:
    await ctx.started()
    async with ctx.open_stream() as stream:
        await stream.send(1)
    await stream.send(2)


@devx.context
async def caller_sends_then_closes(ctx: devx.Context) -> list:
    """Collect what the caller sends until it closes the stream."""
    await ctx.started()
    got = []
    async with ctx.open_stream() as stream:
        async for msg in stream:
            got.append(msg)
    return got


@devx.context
async def callee_closes(ctx: devx.Context, n: int) -> str:
    """Send ``n`` items then close the stream; then wait for the caller to finish."""
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)
    return "closed"


@devx.context
async def callee_closes_then_exits(ctx: devx.Context, n: int, release: str) -> None:
    """Send ``n`` items and close the stream; once ``release`` exists, the process
    exits (code 0) with the context still open."""
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)
    while not Path(release).exists():
        await trio.sleep(0.01)
    os._exit(0)


# backpressure: the producer records how far it got, the test reads it with portal.run
PRODUCED = {"sent": 0, "blocked": False}


@devx.context
async def producer(ctx: devx.Context, n: int) -> int:
    PRODUCED.update(sent=0, blocked=False)
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            if stream.credits == 0:
                PRODUCED["blocked"] = True
            await stream.send(i)
            PRODUCED["sent"] = i + 1
    return PRODUCED["sent"]


def produced() -> dict:
    return dict(PRODUCED)


@devx.context
async def consume(ctx: devx.Context) -> int:
    """Read everything the caller streams; return the count."""
    await ctx.started()
    count = 0
    async with ctx.open_stream() as stream:
        async for _ in stream:
            count += 1
    return count


@devx.context
async def started_after_a_cancelled_start(ctx: devx.Context) -> bool:
    """started() under a scope cancelled before it raises Cancelled and hands nothing
    over: the next started() is the first. Returns whether the scope caught it."""
    with trio.CancelScope() as scope:
        scope.cancel()
        await ctx.started("cancelled")
    await ctx.started("second")
    return scope.cancelled_caught


@devx.context
async def send_then_block(
    ctx: devx.Context, n: int, first: int, release: str, blocked: str
) -> None:
    """Stream ``first`` items, block the loop in sync code (it reads nothing) until
    ``release`` exists, then stream the rest of ``n`` and close."""
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(first):
            await stream.send(i)
        Path(blocked).touch()
        while not os.path.exists(release):
            time.sleep(0.005)
        for i in range(first, n):
            await stream.send(i)


def swallow(data: bytes) -> int:
    return len(data)


def not_a_context(x: int = 0) -> int:
    return x


async def undecorated(ctx, x: int = 0) -> int:
    return x


@devx.context
async def cancel_own_actor(ctx: devx.Context) -> None:
    await ctx.started()
    devx.current_actor().cancel_soon()
    await trio.sleep_forever()


# a gate in the callee's actor that the test opens with a call of its own
_GATE: dict[str, trio.Event] = {}
GATED: dict[str, devx.MsgStream] = {}


def _gate() -> trio.Event:
    return _GATE.setdefault("gate", trio.Event())


def open_gate() -> int | None:
    """Open the gate; returns how many items the gated stream holds unread then
    (frames are ordered on a channel: every item sent before this call is there)."""
    stream = GATED.get("stream")
    buffered = None if stream is None else stream.buffered
    _gate().set()
    return buffered


@devx.context
async def gated_consume(ctx: devx.Context) -> int:
    """Read nothing until the gate opens, then everything the caller streams."""
    _GATE.pop("gate", None)
    await ctx.started()
    count = 0
    async with ctx.open_stream() as stream:
        GATED["stream"] = stream
        await _gate().wait()
        async for _ in stream:
            count += 1
    return count


@devx.context
async def shielded_until_gate(ctx: devx.Context, marker: str) -> None:
    """Ignore cancellation until the gate opens; write ``finished`` to ``marker`` then."""
    _GATE.pop("gate", None)
    await ctx.started()
    with trio.CancelScope(shield=True):
        await _gate().wait()
    Path(marker).write_text("finished")


def context_cancel_timeout() -> float:
    from devx.core import settings

    return settings.current().context_cancel_timeout


_ctx_gate: trio.Event | None = None


@devx.context
async def started_then_wait(ctx: devx.Context) -> str:
    """Say started, then wait for the caller's next call (open_ctx_gate)."""
    global _ctx_gate
    _ctx_gate = trio.Event()
    await ctx.started("first")
    await _ctx_gate.wait()
    return "after"


@devx.context
async def started_then_sync_work(ctx: devx.Context, flag: str, bound: float) -> str:
    """Say started, then run synchronous code (no checkpoint) until the caller, who
    must have the first value by then, creates ``flag``."""
    import os
    import time

    await ctx.started("ready")
    end = time.monotonic() + bound
    while not os.path.exists(flag):
        if time.monotonic() > end:
            return "the caller never saw started() while this callee ran sync code"
        time.sleep(0.005)
    return "seen"


def open_ctx_gate() -> None:
    assert _ctx_gate is not None
    _ctx_gate.set()


_kept_ctx: devx.Context | None = None
_kept_gate: trio.Event | None = None


@devx.context
async def keep_ctx(ctx: devx.Context) -> int:
    """Keep this context past its end (for cancel_kept_ctx); the serving task's id."""
    global _kept_ctx
    _kept_ctx = ctx
    await ctx.started(None)
    return id(trio.lowlevel.current_task())


async def wait_kept_gate() -> int:
    """Wait until cancel_kept_ctx is done; the serving task's id."""
    global _kept_gate
    _kept_gate = trio.Event()
    await _kept_gate.wait()
    return id(trio.lowlevel.current_task())


def kept_gate_open() -> bool:
    return _kept_gate is not None


async def cancel_kept_ctx() -> None:
    """ctx.cancel() on the context keep_ctx kept, long over; then let wait_kept_gate go."""
    assert _kept_ctx is not None and _kept_gate is not None
    await _kept_ctx.cancel()
    _kept_gate.set()
