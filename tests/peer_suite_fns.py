"""Functions for tests/test_peer_suite.py, written as the peer project's own tests write
them (the gaps found by running those tests against devx)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

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


async def short_sleep() -> str:
    await trio.sleep(0)
    return "slept"


async def echo(fn_name: str) -> str:
    """A function with a parameter named as ``portal.run``'s second one."""
    return fn_name


async def call_back_by_name(func_name: str) -> list:
    """The peer's test_rpc ``sleep_back_actor``: find the root and call one of its
    functions by module and name, the peer's older ``portal.run(ns, name)``."""
    import warnings

    async with devx.find_actor("root") as portal:
        assert portal is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = await portal.run(__name__, func_name)
        return [got, [str(w.category.__name__) for w in caught]]


async def read_the_registry() -> dict:
    """The peer's test_registrar ``unpack_reg``, from an actor that is not the
    registrar: the registrar's calls by the peer's names on its portal."""
    async with devx.get_registry() as portal:
        reg = await portal.run_from_ns("self", "get_registry")
        found = await portal.run_from_ns("self", "find_actor", name="root")
        nobody = await portal.run_from_ns("self", "find_actor", name="nobody")
        waited = await portal.run_from_ns("self", "wait_for_actor", name="worker")
    try:
        await devx.current_actor().get_registry()
        refused = ""
    except RuntimeError as exc:
        refused = str(exc)
    return {
        "uids": [tuple(key.split(".")) for key in reg],
        "me": devx.current_actor().aid.uid,
        "found": found,
        "nobody": nobody,
        "waited": waited,
        "refused": refused,
    }


async def os_ppid() -> int:
    """The OS parent of this actor's process (the root, or a fork server)."""
    return os.getppid()


@devx.context
async def close_on_sentinel(ctx: devx.Context) -> list:
    """The peer's test_advanced_streaming ``inf_streamer``: the reading loop closes
    the stream itself on 'done' and goes on iterating, which then ends."""
    await ctx.started()
    got = []
    async with ctx.open_stream() as stream:
        async for msg in stream:
            if msg == "done":
                await stream.aclose()
            else:
                got.append(msg)
        try:
            await stream.receive()
        except trio.EndOfChannel:
            got.append("end")
    return got


async def count_to(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def my_loglevel() -> str | None:
    return devx.current_actor().loglevel


async def portal_actor_is_mine() -> list:
    """The peer's test_inter_peer_cancellation logs ``portal.actor.aid.uid``."""
    me = devx.current_actor()
    async with devx.find_actor("root") as portal:
        assert portal is not None
        return [portal.actor is me, portal.actor.aid.uid == me.aid.uid]


@devx.context
async def cancel_self(ctx: devx.Context) -> None:
    await ctx.started()
    await ctx.cancel()
    await trio.sleep_forever()


@devx.context
async def fail_after_a_while(ctx: devx.Context, delay: float) -> None:
    await ctx.started()
    await trio.sleep(delay)
    raise ValueError("callee failed later")


_last_canceller: list = []


@devx.context
async def record_canceller(ctx: devx.Context) -> None:
    """Started, then sleeps; once cancelled, keeps what its ctx.canceller says."""
    await ctx.started()
    try:
        await trio.sleep_forever()
    finally:
        _last_canceller.append(ctx.canceller)


async def last_canceller() -> tuple | None:
    last = _last_canceller[-1] if _last_canceller else None
    return tuple(last) if last else None


async def cancel_actor_named(name: str) -> None:
    """The peer's ``sleep_a_bit_then_cancel_peer``: another actor cancels ``name``."""
    async with devx.wait_for_actor(name) as portal:
        await portal.cancel_actor()


async def am_i_infected() -> bool:
    """The peer's test_child_manages_service_nursery branches on this."""
    return devx.current_actor().is_infected_aio()


async def call_actor_named(name_: str) -> str:
    """The peer's first example (a_trynamic_first_scene.py): find a sibling by name
    and call it."""
    async with devx.find_actor(name_) as portal:
        if portal is None:
            return f"no actor {name_!r} is up"
        return await portal.run(echo, fn_name=f"hello from {devx.current_actor().name}")


@devx.context(pld_spec=int)
async def start_off_spec(ctx: devx.Context, validate: bool) -> int:
    """The peer's test_pldrx_limiting ``child``: started() with a value outside the
    spec, checked here or not (``validate_pld_spec``)."""
    try:
        await ctx.started("ten", validate_pld_spec=validate)
    except devx.MsgTypeError:
        await ctx.started(10)
        return 0
    await trio.sleep_forever()
    return -1


async def _aio_counter(chan, n: int) -> None:  # type: ignore[no-untyped-def]
    """The peer's test_child_manages_service_nursery ``aio_streamer``: an asyncio task
    feeding the trio side."""
    import asyncio

    chan.started_nowait(None)
    for i in range(n):
        chan.send_nowait(i)
        await asyncio.sleep(0)
    await asyncio.sleep(3600)


async def broadcast_from_asyncio(n: int) -> list:
    """Two trio tasks of an infected actor share one asyncio channel through
    ``trionics.broadcast_receiver``, each getting every item."""
    from devx import to_asyncio, trionics

    got: dict[str, list] = {"a": [], "b": []}
    async with to_asyncio.open_channel_from(_aio_counter, n=n) as (chan, _):
        async with trionics.broadcast_receiver(chan, 6) as first:
            async with first.subscribe() as second, trio.open_nursery() as tn:

                async def read(name: str, rx: devx.trionics.BroadcastReceiver) -> None:
                    async for i in rx:
                        got[name].append(i)
                        if i == n - 1:
                            return

                tn.start_soon(read, "a", first)
                tn.start_soon(read, "b", second)
    return [got["a"], got["b"]]


@devx.context
async def break_own_parent_channel(ctx: devx.Context) -> None:
    """The peer's break_ipc fault injection (its test_advanced_faults): the callee
    closes the socket under its own channel to its parent, then waits."""
    await ctx.started()
    await ctx.chan.stream.aclose()
    await trio.sleep_forever()
