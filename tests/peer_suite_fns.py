"""Functions for tests/test_peer_suite.py, written as the peer project's own tests write
them (the gaps found by running those tests against devx)."""

from __future__ import annotations

import msgspec
import trio

import devx


class Point(msgspec.Struct):
    x: int
    y: int


@devx.context
async def return_early(ctx: devx.Context) -> str:
    """The peer's ``sleep_forever_or_return``: started, then return at once."""
    await ctx.started()
    return "yo"


@devx.context(pld_spec=Point | None)
async def return_point(ctx: devx.Context) -> Point:
    await ctx.started(None)
    return Point(1, 2)


@devx.context
async def sleep_forever_ctx(ctx: devx.Context) -> None:
    await ctx.started()
    await trio.sleep_forever()


@devx.context
async def fail_after_started(ctx: devx.Context) -> None:
    await ctx.started()
    raise ValueError("callee failed")
