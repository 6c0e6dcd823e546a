"""trio as a guest of an asyncio loop (``infect_asyncio=True``, the peer project's
name): the actor's trio program runs inside ``asyncio.run``, so asyncio tasks and
trio tasks share one thread and one loop (:mod:`devx.to_asyncio` links them).
asyncio is imported only here, for actors that ask for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


def run(trio_main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``trio_main(*args)`` as trio's guest in a fresh asyncio loop; return its
    result or raise its error, as ``trio.run`` does."""
    import asyncio

    async def host() -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            *args,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=done.set_result,
            strict_exception_groups=True,
        )
        outcome = await done
        result: T = outcome.unwrap()
        return result

    return asyncio.run(host())
