"""``acquire_debug_lock()``: hold the tree's terminal from user code, e.g. to print a
multi-line report that must not interleave with another actor's REPL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from ..runtime.actor import current_actor
from . import session as _session
from .session import Session

__tracebackhide__ = True


@asynccontextmanager
async def acquire_debug_lock(reason: str = "print", *, shield: bool = False) -> AsyncIterator[int]:
    """Hold the tree-global TTY lock for the block (waiting, FIFO, for any REPL
    first); yields the hold id. Any actor, debug mode or not; needs the runtime.

    A task that holds the terminal already (it stepped onto the block from its
    REPL, or the block is inside another of its blocks) runs the block under that
    hold and leaves it as it was: waiting for the lock it holds would never end. The
    block is then covered only while that REPL holds the terminal: a ``c`` inside
    the block, or a step over it that runs on while another REPL waits, gives the
    terminal up before the block ends. A pause inside the block opens its REPL on
    the block's hold; leaving that REPL (``c``) gives the terminal up, as any REPL
    does."""
    live = _session.current
    if live is not None and live.owned_by_current_task():
        yield live.hold_id
        return
    actor = current_actor()
    with trio.CancelScope(shield=shield):
        session = await Session.open(actor, reason, stops=False)
    try:
        yield session.hold_id
    finally:
        session.release("done")
