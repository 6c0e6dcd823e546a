"""maybe_wait_for_debugger: don't tear a tree down under a REPL."""

from __future__ import annotations

import logging

import trio

from ..runtime.actor import current_actor
from . import tree_lock

log = logging.getLogger("devx.debug")


async def maybe_wait_for_debugger(
    poll_steps: int = 2,
    poll_delay: float = 0.1,
    child_in_debug: bool = False,
    header_msg: str = "",
    _ll: str = "devx",
) -> bool:
    """Wait while any actor of the tree holds (or waits for) the TTY lock, and
    until it has been free for ``DEVX_REPL_SETTLE`` s (:func:`tree_lock.settle_s`)
    after the last release: the next pause of a loop the user is stepping through
    comes in that window, and must find its actor still there.

    Every actor follows the tree's lock state as the root publishes it, so this
    waits for a pushed change, never polls the root. Before giving up it watches
    ``poll_steps`` windows of ``poll_delay`` s for a REPL about to start (a child
    that just crashed); ``child_in_debug=True`` always watches them all. Returns
    True when it waited for a REPL. Immediate when none is live.
    """
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        return False
    view = tree_lock.view
    waited = False
    steps = max(poll_steps, 1)
    for step in range(steps):
        if view.settle_left() > 0:
            holder = view.state.holder
            if view.busy:
                log.info(
                    "%swaiting for the REPL of %s to end before tearing down",
                    header_msg,
                    holder.path if holder is not None else "an actor",
                )
            await view.wait_idle(settle=tree_lock.settle_s())
            waited = True
        elif child_in_debug or step + 1 < steps:
            with trio.move_on_after(poll_delay):
                await view.changed()
        else:
            break
    return waited
