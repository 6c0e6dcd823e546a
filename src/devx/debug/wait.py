"""maybe_wait_for_debugger: don't tear a tree down under a REPL."""

from __future__ import annotations

import logging

import trio

from ..runtime.actor import Actor, current_actor
from ..runtime.errors import ChannelClosed
from . import lock as tty_lock

log = logging.getLogger("devx.debug")


async def maybe_wait_for_debugger(
    poll_steps: int = 2,
    poll_delay: float = 0.1,
    child_in_debug: bool = False,
    header_msg: str = "",
    _ll: str = "devx",
) -> bool:
    """Wait while any actor of the tree holds (or waits for) the TTY lock.

    Polls ``poll_steps`` times ``poll_delay`` apart for a REPL about to start (a
    child that just crashed), then, once one is live, waits until it ends. Returns
    True when it waited for a REPL. Cheap and immediate when none is live; a no-op
    outside debug mode.
    """
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        return False
    waited = False
    steps = max(poll_steps, 1)
    if actor.is_root:
        lock = tty_lock._root_lock
        if lock is None:
            return False
        for step in range(steps):
            if lock.busy:
                _say(header_msg, lock.holder)
                await lock.wait_idle()
                waited = True
            elif child_in_debug or step + 1 < steps:
                await trio.sleep(poll_delay)
            else:
                break
        return waited
    try:
        return await _wait_via_root(actor, steps, poll_delay, header_msg)
    except (ChannelClosed, OSError, trio.TooSlowError):
        return False  # the root is gone: there is no REPL to wait for


async def _wait_via_root(actor: Actor, steps: int, poll_delay: float, header_msg: str) -> bool:
    waited = False
    portal = await actor.root_portal()
    for step in range(steps):
        while True:
            status = await portal.run_from_ns("devx.debug.lock", "lock_status")
            if not (status["holder"] or status["waiting"]):
                break
            if not waited:
                _say(header_msg, status["holder"])
            waited = True
            await trio.sleep(poll_delay)
        if step + 1 < steps:
            await trio.sleep(poll_delay)
    return waited


def _say(header_msg: str, holder: object) -> None:
    path = getattr(holder, "path", None) or (holder or {}).get("path")  # type: ignore[union-attr]
    log.info("%swaiting for the REPL of %s to end before tearing down", header_msg, path)
