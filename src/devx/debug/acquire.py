"""``acquire_debug_lock()``: hold the tree's terminal from user code, e.g. to print a
multi-line report that must not interleave with another actor's REPL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..runtime.actor import current_actor
from .session import Session

__tracebackhide__ = True


@asynccontextmanager
async def acquire_debug_lock(reason: str = "print", *, shield: bool = False) -> AsyncIterator[int]:
    """Hold the tree-global TTY lock for the block (waiting, FIFO, for any REPL
    first); yields the hold id. Any actor, debug mode or not; needs the runtime."""
    actor = current_actor()
    with trio.CancelScope(shield=shield):
        session = await Session.open(actor, reason, owned=False)
    try:
        yield session.hold_id
    finally:
        session.release("done")
