"""This actor's view of the tree's TTY lock: the last :class:`LockState` the root
published. The root updates it directly; every other actor follows the root's
:func:`~devx.debug.lock.follow_state` stream from a service task.

What reads it: the SIGINT handler (shield ctrl-c while any REPL is live), the
teardown and escalation waits (never kill an actor under a live REPL),
``maybe_wait_for_debugger`` (waits for a pushed change, no polling), and the console
gate (devx's own terminal output is held back while a REPL is live anywhere).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from ..runtime.actor import Actor
from ..runtime.errors import ChannelClosed, RemoteActorError
from .lock_protocol import LockState, decode

__tracebackhide__ = True

log = logging.getLogger("devx.debug")


class TreeLockView:
    def __init__(self) -> None:
        self.state = LockState()
        self._changed = trio.Event()
        self.following = False

    @property
    def busy(self) -> bool:
        """A REPL is live somewhere in the tree, or one is waiting for the terminal."""
        return self.state.busy

    @property
    def held(self) -> bool:
        return self.state.hold_id != 0

    def update(self, state: LockState) -> None:
        if state.seq <= self.state.seq and self.state.seq != 0:
            return  # stale (a follower reconnected): keep the newer one
        self.state = state
        refresh_gate()
        self._changed.set()
        self._changed = trio.Event()

    def reset(self) -> None:
        """Forget the tree's state (the root is gone: nobody can hold the lock)."""
        self.update(LockState(seq=self.state.seq + 1))

    async def changed(self) -> None:
        await self._changed.wait()

    async def wait_idle(self) -> bool:
        """Until no REPL is live or waiting in the tree; True when it had to wait."""
        waited = False
        while self.busy:
            waited = True
            await self.changed()
        return waited


view = TreeLockView()


def _no_local_repl() -> bool:
    return False


# whether this process has a live REPL session (set by :mod:`devx.debug.session`,
# which imports this module, not the other way round)
local_repl_live: Callable[[], bool] = _no_local_repl


def refresh_gate() -> None:
    """Hold devx's own terminal output back while a REPL is live in the tree (as the
    root last said) or in this process (its own grant arrives before the root's
    state push does). Level-triggered: every change sets it again."""
    from ..runtime import console

    if view.held or local_repl_live():
        console.hold("a REPL is live in the tree")
    else:
        console.release()


def start(actor: Actor) -> None:
    """Begin tracking the tree's lock in ``actor`` (a fresh view per actor)."""
    global view
    view = TreeLockView()


async def follow_root(
    actor: Actor, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """A child's service task: mirror the root's lock state until either side ends."""
    task_status.started()
    from . import lock as tty_lock

    try:
        portal = await actor.root_portal()
        async with portal.open_stream_from(tty_lock.follow_state) as stream:
            view.following = True
            item: Any
            async for item in stream:
                view.update(decode(item, LockState))
    except (ChannelClosed, OSError, trio.TooSlowError, RemoteActorError) as exc:
        log.debug("actor %s stopped following the TTY lock: %s", actor.path, exc)
    finally:
        view.following = False
        view.reset()
