"""A flat cluster of worker actors in one block (the peer project's
``open_actor_cluster``): start ``count`` actors at once, hand their portals over by
name, cancel them all when the block ends."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .actor import current_actor
from .nursery import open_nursery
from .portal import Portal


@asynccontextmanager
async def open_actor_cluster(
    modules: list[str],
    count: int | None = None,
    names: list[str] | None = None,
    hard_kill: bool = False,
    **runtime_kwargs: Any,
) -> AsyncIterator[dict[str, Portal]]:
    """Start ``count`` actors (default: one per CPU, or one per name) serving
    ``modules``, concurrently, and yield ``{name: portal}``; leaving the block
    cancels them (an error in it too, as any nursery does). Each actor is named
    ``<this actor's name>.<name>`` (names default to ``worker_<i>``), as in the peer
    project. ``runtime_kwargs`` go to :func:`devx.open_nursery` (``debug_mode=``,
    ``loglevel=``, ...: they open the root when no runtime runs yet). ``hard_kill``:
    the block's end SIGKILLs them at once instead of cancelling them gracefully
    (:meth:`ActorNursery.cancel`); an error in the block still cancels gracefully."""
    if count is None:
        count = len(names) if names else (os.cpu_count() or 1)
    if names is None:
        names = [f"worker_{i}" for i in range(count)]
    if len(names) != count:
        raise ValueError(
            f"open_actor_cluster: {len(names)} names for count={count}: give as many "
            "names as actors, or leave one of them out"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"open_actor_cluster: names must differ, got {names}")
    portals: dict[str, Portal] = {}
    async with open_nursery(**runtime_kwargs) as an:
        prefix = current_actor().name

        async def start(name: str) -> None:
            full = f"{prefix}.{name}"
            portals[full] = await an.start_actor(full, enable_modules=list(modules))

        async with trio.open_nursery() as tn:
            for name in names:
                tn.start_soon(start, name)
        # in the order the names were given, not the order the actors came up
        yield {f"{prefix}.{name}": portals[f"{prefix}.{name}"] for name in names}
        await an.cancel(hard_kill=hard_kill)
