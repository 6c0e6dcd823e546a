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


# --- asyncio in an actor (infect_asyncio=True) ------------------------------------------------


async def _aio_double(x: int) -> int:
    import asyncio

    await asyncio.sleep(0)
    assert asyncio.current_task() is not None  # a real asyncio task
    return 2 * x


async def _aio_fail(what: str) -> None:
    import asyncio

    await asyncio.sleep(0)
    raise ValueError(what)


async def _aio_wait_forever(seen: list[str], waiting: trio.Event) -> None:
    import asyncio

    waiting.set()  # trio's own objects work from asyncio's side: one thread, one loop
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        seen.append("asyncio task cancelled")
        raise


async def aio_run_tasks() -> list[object]:
    """run_task: a result, an error, and a trio-side cancellation reaching asyncio."""
    out: list[object] = [await devx.to_asyncio.run_task(_aio_double, x=21)]
    try:
        await devx.to_asyncio.run_task(_aio_fail, what="from asyncio")
    except ValueError as exc:
        out.append(f"ValueError: {exc}")
    seen: list[str] = []
    waiting = trio.Event()
    with trio.CancelScope() as cs:
        async with trio.open_nursery() as tn:
            tn.start_soon(
                lambda: devx.to_asyncio.run_task(_aio_wait_forever, seen=seen, waiting=waiting)
            )
            await waiting.wait()
            cs.cancel()
    out.extend(seen)
    return out


async def _aio_echo(chan: devx.to_asyncio.LinkedTaskChannel, prefix: str, seen: list[str]) -> str:
    import asyncio

    chan.started_nowait(f"{prefix}ready")
    try:
        while (msg := await chan.get()) != "stop":
            chan.send_nowait(f"{prefix}{msg}")
    except asyncio.CancelledError:
        seen.append("echo task cancelled")
        raise
    return "stopped"


async def _aio_fail_after_start(chan: devx.to_asyncio.LinkedTaskChannel) -> None:
    chan.started_nowait()
    await chan.get()
    raise KeyError("asyncio side failed")


async def _aio_chan_not_first(
    sleep_for: float = 0.0, chan: devx.to_asyncio.LinkedTaskChannel | None = None
) -> str:
    """The peer's test_infected_asyncio ``sleep_and_err``: the channel is a keyword
    parameter after another one (the peer passes it by name)."""
    import asyncio

    assert chan is not None, "no channel given by name"
    chan.started_nowait(f"started after {sleep_for!r}")
    await asyncio.sleep(sleep_for)
    return "done"


async def _aio_kw_only_chan(*, chan: devx.to_asyncio.LinkedTaskChannel, n: int) -> None:
    chan.started_nowait(n)


async def aio_chan_by_name() -> list[object]:
    """open_channel_from gives the channel by name to a function with a ``chan``
    parameter that is not its first (or is keyword-only)."""
    out: list[object] = []
    async with devx.to_asyncio.open_channel_from(_aio_chan_not_first) as (chan, first):
        out.append(first)
        out.append(await chan.wait_for_result())
    async with devx.to_asyncio.open_channel_from(_aio_kw_only_chan, n=7) as (_, first):
        out.append(first)
    # the peer's parameter names, by keyword (its test_aio_side_raises_before_started)
    async with devx.to_asyncio.open_channel_from(target=_aio_kw_only_chan, n=8) as (_, first):
        out.append(first)
    out.append(await devx.to_asyncio.run_task(func=_aio_double, x=21))
    # given by position, those names are the function's own arguments
    async with devx.to_asyncio.open_channel_from(_aio_connect, target="db:5432") as (_, first):
        out.append(first)
    out.append(await devx.to_asyncio.run_task(_aio_named_func, func="mine"))
    return out


async def _aio_connect(chan: devx.to_asyncio.LinkedTaskChannel, target: str) -> None:
    chan.started_nowait(f"connected to {target}")


async def _aio_named_func(func: str) -> str:
    return f"func={func}"


async def _aio_count(chan: devx.to_asyncio.LinkedTaskChannel, n: int) -> None:
    chan.started_nowait("ready")
    await chan.get()  # "go": every reader is in place
    for i in range(n):
        chan.send_nowait(i)


async def aio_fan_out() -> list[object]:
    """LinkedTaskChannel.subscribe(): a subscribed task and the channel's own reader
    each get every item, then the end; open_channel_from's suppress_graceful_exits
    (the peer's option) is taken, False refused saying why."""
    out: list[object] = []
    async with devx.to_asyncio.open_channel_from(_aio_count, n=5) as (chan, _):
        got: list[int] = []

        async def read(sub: devx.trionics.BroadcastReceiver) -> None:
            got.extend([item async for item in sub])

        async with chan.subscribe() as sub, trio.open_nursery() as tn:
            tn.start_soon(read, sub)
            await chan.send("go")
            out.append([item async for item in chan])
        out.append(got)
    try:
        async with devx.to_asyncio.open_channel_from(
            _aio_count, suppress_graceful_exits=False, n=1
        ):
            pass
    except ValueError as exc:
        out.append("suppress_graceful_exits=False): devx always ends" in str(exc))
    async with devx.to_asyncio.open_channel_from(_aio_count, suppress_graceful_exits=True, n=2) as (
        chan,
        first,
    ):
        await chan.send("go")
        out.append([first, *[item async for item in chan]])
    return out


async def aio_channels() -> list[object]:
    """open_channel_from: talk both ways, the task's return ends the trio side's
    iteration; the block's end cancels a task still running; the task's error
    cancels the block and is raised out of it."""
    seen: list[str] = []
    out: list[object] = []
    async with devx.to_asyncio.open_channel_from(_aio_echo, prefix="> ", seen=seen) as (
        chan,
        first,
    ):
        out.append(first)
        for i in range(3):
            await chan.send(i)
            out.append(await chan.receive())
        await chan.send("stop")
        out.append([m async for m in chan])
        out.append(await chan.wait_for_result())
    async with devx.to_asyncio.open_channel_from(_aio_echo, prefix="", seen=seen) as (chan, _):
        await chan.send("x")
        out.append(await chan.receive())
    out.extend(seen)
    try:
        async with devx.to_asyncio.open_channel_from(_aio_fail_after_start) as (chan, _):
            await chan.send("go")
            await trio.sleep_forever()
    except KeyError as exc:
        out.append(f"KeyError: {exc}")
    try:  # the trio side waits in receive() as the task fails: its error, not EndOfChannel
        async with devx.to_asyncio.open_channel_from(_aio_fail_after_start) as (chan, _):
            await chan.send("go")
            await chan.receive()
    except KeyError as exc:
        out.append(f"KeyError in receive: {exc}")
    return out


async def aio_outside() -> str:
    """to_asyncio in an actor that runs no asyncio loop: the error says what to do."""
    try:
        await devx.to_asyncio.run_task(_aio_double, x=1)
    except RuntimeError as exc:
        return str(exc)
    return "no error"
