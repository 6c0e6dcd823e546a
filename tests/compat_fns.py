"""Functions test_peer_compat runs in child actors: programs using the peer runtime's
public names (``devx.log``, ``is_root_process``, ``MsgStream.subscribe``,
``pld_spec`` ...) as devx provides them."""

from __future__ import annotations

import os

import msgspec
import trio

import devx


def whoami() -> dict[str, object]:
    actor = devx.current_actor()
    return {
        "name": actor.name,
        "pid": os.getpid(),
        "is_root": devx.is_root_process(),
        "uid": list(actor.uid.uid),
    }


def accept_addr() -> object:
    return devx.current_actor().accept_addr


@devx.context
async def ticker(ctx: devx.Context, count: int) -> int:
    """Send ``count`` numbers once the caller says ``go`` (its subscribers are in
    place by then); echo back anything else the caller sends, as ``("echo", x)``."""
    await ctx.started(count)
    async with ctx.open_stream() as stream:
        while (msg := await stream.receive()) != "go":
            await stream.send(["echo", msg])
        for i in range(count):
            await stream.send(i)
    return count


@devx.context
async def on_demand(ctx: devx.Context) -> None:
    """Send one number per ``n`` the caller sends (so the caller decides when each
    item exists); end when it closes its side."""
    await ctx.started()
    sent = 0
    async with ctx.open_stream() as stream:
        async for _ in stream:
            await stream.send(sent)
            sent += 1


class Point(msgspec.Struct):
    x: int
    y: int


@devx.context(pld_spec=Point | None)
async def point_doubler(ctx: devx.Context, started_first: object = None) -> Point | None:
    """A typed context: tries ``started_first`` (refused unless it is a Point or
    None), then starts with ``Point(0, 0)`` and doubles each Point it receives; the
    error it got on the first try ends up in its return value's ``x`` (1: refused)."""
    refused = 0
    if started_first is not None:
        try:
            await ctx.started(started_first)
        except devx.MsgTypeError as exc:
            assert "pld_spec Point | None" in str(exc) and "root/typed" in str(exc), exc
            refused = 1
    await ctx.started(Point(0, 0))
    async with ctx.open_stream() as stream:
        async for pt in stream:
            assert type(pt) is Point, type(pt)
            await stream.send(Point(pt.x * 2, pt.y * 2))
    return Point(refused, 0)


@devx.context(pld_spec=Point | None)
async def returns_wrong_type(ctx: devx.Context) -> object:
    await ctx.started(None)
    return {"x": "not an int", "y": 0}


async def sleep_forever() -> None:
    await trio.sleep_forever()
