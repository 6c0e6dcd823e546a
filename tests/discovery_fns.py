"""Functions the discovery tests call in actors found through a registrar."""

from __future__ import annotations

import os
import time

import trio

import devx


def where() -> dict[str, object]:
    actor = devx.current_actor()
    return {
        "path": actor.path,
        "pid": os.getpid(),
        "root": actor.root_uid.uuid,
        "addr": list(actor.listen_addr) if isinstance(actor.listen_addr, tuple) else None,
    }


async def call_by_name(name: str) -> dict[str, object] | None:
    """Find ``name`` through this actor's registrar and run :func:`where` there."""
    async with devx.find_actor(name) as portal:
        if portal is None:
            return None
        got: dict[str, object] = await portal.run(where)
        return got


def is_registrar() -> bool:
    return devx.current_actor().is_registrar


async def pause_then_add(x: int) -> int:
    """Pause (a REPL on this actor's own tree's terminal), then answer."""
    await devx.pause()
    y = x + 1
    return y


def big_when(go: str, marker: str, n: int) -> bytes:
    """Served inline: says it is called (``marker``), blocks this actor's loop until
    ``go`` exists, then answers ``n`` bytes (a reply its caller reads later)."""
    open(marker, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    return b"x" * n


async def pause_within(after: str, secs: float, until: str) -> str:
    """Once ``after`` exists, pause under a deadline of ``secs``; then go on (this task
    lives) until ``until`` exists."""
    while not os.path.exists(after):
        await trio.sleep(0.005)
    with trio.move_on_after(secs) as scope:
        await devx.pause()
    while not os.path.exists(until):
        await trio.sleep(0.005)
    return "cancelled" if scope.cancelled_caught else "done"


@devx.context
async def echo(ctx: devx.Context) -> str:
    """Say who serves, then send back each message until the caller's stream ends."""
    await ctx.started(devx.current_actor().path)
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)
    return "done"


async def find_at(name: str, host: str, port: int) -> str:
    """Look ``name`` up at the registrar ``(host, port)``; what it raised, as text."""
    try:
        async with devx.find_actor(name, registry_addrs=[(host, port)]):
            return "found"
    except OSError as exc:
        return str(exc)
