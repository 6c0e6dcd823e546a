"""Functions the hardening tests run in child actors (a module of their own)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import trio

import devx


async def pid_then_wait() -> AsyncIterator[int]:
    """Yield this actor's pid, then wait (in trio) until cancelled."""
    yield os.getpid()
    await trio.sleep_forever()


async def blocked_stream() -> AsyncIterator[int]:
    """Yield this actor's pid, then block its loop in sync code for good."""
    yield os.getpid()
    while True:
        time.sleep(0.1)


async def blocked_grandchild() -> AsyncIterator[list[int]]:
    """Spawn a grandchild whose loop is blocked; yield [our pid, its pid]."""
    async with devx.open_nursery() as an:
        portal = await an.start_actor("leaf", enable_modules=[__name__])
        async with portal.open_stream_from(blocked_stream) as stream:
            yield [os.getpid(), await anext(stream)]
            await trio.sleep_forever()


async def nursery_sleeper() -> None:
    """Sleep inside a nursery of our own (cancelled, it ends in a group of Cancelled)."""
    async with trio.open_nursery() as n:
        n.start_soon(trio.sleep_forever)
        n.start_soon(trio.sleep_forever)


def my_pid() -> int:
    return os.getpid()


async def listen_addr() -> object:
    """Where this actor listens (its listener started if need be)."""
    return await devx.current_actor().ensure_listener()


async def shielded_stream() -> AsyncIterator[int]:
    """Yield this actor's pid, then ignore every cancel (a shielded sleep)."""
    yield os.getpid()
    # no checkpoint between the yield going out and the shield: stubborn at once
    with trio.CancelScope(shield=True):
        await trio.sleep_forever()
