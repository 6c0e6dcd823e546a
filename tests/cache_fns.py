"""Scenarios test_peer_cache runs in child actors: tasks of one actor sharing an async
context manager through ``devx.trionics.maybe_open_context`` (the peer project's
task-cached resource). Each returns what its tasks saw, for the test to check."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

import devx
from devx.trionics import maybe_open_context

# what the resources below did, in order (per actor process)
LOG: list[str] = []


@asynccontextmanager
async def counted(name: str) -> AsyncIterator[str]:
    """A resource whose every entry and exit is logged, with a checkpoint each side
    (where a racing task would slip in)."""
    n = sum(1 for e in LOG if e.startswith("enter")) + 1
    LOG.append(f"enter {name} #{n}")
    await trio.lowlevel.checkpoint()
    try:
        yield f"{name}#{n}@{os.getpid()}"
    finally:
        await trio.lowlevel.checkpoint()
        LOG.append(f"exit {name} #{n}")


async def shared_by_tasks(n: int, key_on: str) -> dict[str, Any]:
    """``n`` tasks in this actor use one resource at once: keyed on identical kwargs,
    on ``key=`` (each task's kwargs differ), or on a ``key`` function of the kwargs.
    Every task is inside before any leaves."""
    LOG.clear()
    seen: dict[str, tuple[bool, str]] = {}
    all_in = trio.Event()
    leaving: list[str] = []

    async def user(i: int) -> None:
        if key_on == "kwargs":
            kw: dict[str, Any] = {"kwargs": {"name": "res"}}
        elif key_on == "key":
            kw = {"kwargs": {"name": f"res-of-{i}"}, "key": "one-key"}
        else:
            kw = {"kwargs": {"name": f"res-of-{i}"}, "key": lambda name: name[:3]}
        async with maybe_open_context(counted, **kw) as (hit, value):
            seen[f"task{i}"] = (hit, value)
            if len(seen) == n:
                all_in.set()
            await all_in.wait()
            await trio.lowlevel.checkpoint()
        leaving.append(f"task{i} out, log={len(LOG)}")

    async with trio.open_nursery() as tn:
        for i in range(n):
            tn.start_soon(user, i)
            await trio.testing.wait_all_tasks_blocked()  # task i is inside (or queued)
    return {"seen": seen, "log": list(LOG), "leaving": leaving}


async def first_opener_cancelled() -> dict[str, Any]:
    """The first task to open a key is cancelled while the resource enters; a second
    task queued behind it must then open it itself (a miss), and a third task share
    the second's (a hit)."""
    LOG.clear()
    attempts: list[str] = []
    gate = trio.Event()

    @asynccontextmanager
    async def slow_to_open() -> AsyncIterator[int]:
        attempts.append("entering")
        try:
            if len(attempts) == 1:
                await trio.sleep_forever()  # the first attempt never finishes entering
            await gate.wait()
        except trio.Cancelled:
            attempts.append("cancelled while entering")
            raise
        attempts.append("entered")
        yield len(attempts)
        attempts.append("exited")

    results: dict[str, Any] = {}

    async def user(name: str, scope: trio.CancelScope | None = None) -> None:
        with scope or trio.CancelScope():
            async with maybe_open_context(slow_to_open) as (hit, value):
                results[name] = [hit, value]
                await done.wait()
            return
        results[name] = "cancelled"

    done = trio.Event()
    first_scope = trio.CancelScope()
    async with trio.open_nursery() as tn:
        tn.start_soon(user, "first", first_scope)
        await trio.testing.wait_all_tasks_blocked()  # first: inside the resource's entry
        tn.start_soon(user, "second")
        await trio.testing.wait_all_tasks_blocked()  # second: queued on the key's lock
        first_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()  # second: now entering it itself
        gate.set()
        with trio.fail_after(10):
            while "second" not in results:
                await trio.sleep(0.01)
        tn.start_soon(user, "third")
        with trio.fail_after(10):
            while "third" not in results:
                await trio.sleep(0.01)
        done.set()
    # the key is free again: a fresh entry
    async with maybe_open_context(slow_to_open) as (hit, _):
        results["after"] = hit
    return {"results": results, "attempts": attempts}


async def last_user_gets_the_exit_and_its_error(fail: bool, cancel_last: bool) -> dict[str, Any]:
    """Two users; the resource's exit blocks until the test's task lets it go, and
    then (``fail``) raises. The first user to leave returns at once; the last one
    returns only once the exit is done (also when cancelled: ``cancel_last``) and
    gets its error; an entrant arriving during the exit waits and gets a fresh one."""
    exit_started, allow_exit, exit_done = trio.Event(), trio.Event(), trio.Event()
    generation = 0
    events: list[str] = []

    class ResourceExitError(Exception):
        pass

    @asynccontextmanager
    async def resource() -> AsyncIterator[int]:
        nonlocal generation
        generation += 1
        mine = generation
        yield mine
        if mine == 1:
            exit_started.set()
            with trio.CancelScope(shield=True):  # whatever the users' fate
                await allow_exit.wait()
            exit_done.set()
            if fail:
                raise ResourceExitError("resource exit failed")

    async def user(name: str, leave: trio.Event) -> None:
        try:
            with trio.CancelScope() as cs:
                async with maybe_open_context(resource) as (hit, value):
                    events.append(f"{name} in: hit={hit} gen={value}")
                    await leave.wait()
                    if cancel_last and name == "last":
                        cs.cancel()
                        await trio.sleep_forever()
            events.append(f"{name} out: exit done={exit_done.is_set()}")
        except ResourceExitError as exc:
            events.append(f"{name} raised {exc} (exit done={exit_done.is_set()})")

    async def late() -> None:
        await exit_started.wait()
        async with maybe_open_context(resource) as (hit, value):
            events.append(f"late in: hit={hit} gen={value} exit done={exit_done.is_set()}")

    first_leave, last_leave = trio.Event(), trio.Event()
    async with trio.open_nursery() as tn:
        tn.start_soon(user, "first", first_leave)
        await trio.testing.wait_all_tasks_blocked()
        tn.start_soon(user, "last", last_leave)
        await trio.testing.wait_all_tasks_blocked()
        first_leave.set()
        await trio.testing.wait_all_tasks_blocked()
        last_leave.set()
        tn.start_soon(late)
        await exit_started.wait()
        await trio.testing.wait_all_tasks_blocked()  # late: queued on the key's lock
        events.append("exit allowed")
        allow_exit.set()
    return {"events": events}


async def keys_live_apart() -> list[str]:
    """One function, two kwargs: closing key b while a is in use really closes b."""
    LOG.clear()
    out: list[str] = []
    async with maybe_open_context(counted, kwargs={"name": "a"}) as (hit_a, a):
        out.append(f"a hit={hit_a}")
        async with maybe_open_context(counted, kwargs={"name": "b"}) as (hit_b, b):
            out.append(f"b hit={hit_b}")
        async with maybe_open_context(counted, kwargs={"name": "b"}) as (hit_b, b2):
            out.append(f"b again hit={hit_b} same={b2 == b}")
        async with maybe_open_context(counted, kwargs={"name": "a"}) as (hit_a2, a2):
            out.append(f"a again hit={hit_a2} same={a2 == a}")
    return out + LOG


async def my_resource() -> list[Any]:
    """This actor's own cache: the first user here is a miss whatever other actors
    hold."""
    LOG.clear()
    async with maybe_open_context(counted, kwargs={"name": "per-actor"}) as (hit, value):
        return [hit, value, devx.current_actor().name]


@devx.context
async def numbers(ctx: devx.Context, count: int) -> None:
    """Send ``count`` numbers once the caller says ``go`` (every subscriber is in
    place by then)."""
    await ctx.started(os.getpid())
    async with ctx.open_stream() as stream:
        assert await stream.receive() == "go"
        for i in range(count):
            await stream.send(i)
