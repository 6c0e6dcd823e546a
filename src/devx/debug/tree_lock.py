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
import time
from collections.abc import Callable
from typing import Any

import trio

from ..core import settings
from ..runtime.actor import Actor
from ..runtime.errors import ChannelClosed, RemoteActorError
from .lock_protocol import LockState, decode

__tracebackhide__ = True

log = logging.getLogger("devx.debug")


def settle_s() -> float:
    """How long teardown waits for the tree's terminal to have been quiet (nobody
    holding or waiting) after a release (``DEVX_REPL_SETTLE``): a `c` in a
    `while True: await pause()` loop frees the terminal for the few ms until the next
    pause asks again, and the tree must not be torn down in that gap under the user
    who is debugging it."""
    return settings.current().repl_settle


class TreeLockView:
    def __init__(self) -> None:
        self.state = LockState()
        self._changed = trio.Event()
        self.following = False
        # time.monotonic() when the terminal last went quiet (a release with nobody
        # waiting); None while busy, 0.0 when it never was (nothing to settle)
        self.quiet_since: float | None = 0.0

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
        was_busy = self.state.busy
        self.state = state
        if state.busy:
            self.quiet_since = None
        elif was_busy:
            self.quiet_since = time.monotonic()
        refresh_gate()
        self._changed.set()
        self._changed = trio.Event()

    def reset(self) -> None:
        """Forget the tree's state (the root is gone: nobody can hold the lock)."""
        self.update(LockState(seq=self.state.seq + 1))
        self.quiet_since = 0.0  # nobody can pause again: nothing to settle

    def settle_left(self, settle: float | None = None) -> float:
        """Seconds until the terminal has been quiet for ``settle`` s since its last
        release: infinite while busy, 0.0 once settled (and after a user's quit,
        when no REPL comes again, and once the lock is closed)."""
        if self.busy:
            return float("inf")
        if not self.quiet_since or self.state.quit_by or self.state.closed:
            return 0.0
        settle = settle_s() if settle is None else settle
        return max(0.0, self.quiet_since + settle - time.monotonic())

    async def changed(self) -> None:
        await self._changed.wait()

    def next_change(self) -> trio.Event:
        """The event the next :meth:`update` sets. Take it *before* reading
        :attr:`state` when the wait runs in another task (a helper started with
        ``start_soon`` first runs a scheduler pass later): a push that lands in
        between still sets the event taken, where ``changed`` called by that task
        would wait on the one after it, missing the push."""
        return self._changed

    async def wait_idle(self, settle: float = 0.0) -> bool:
        """Until no REPL is live or waiting in the tree, and none was for ``settle``
        s (the next pause of a loop comes in that window); True when it waited."""
        waited = False
        while (left := self.settle_left(settle)) > 0:
            waited = True
            if self.busy:
                await self.changed()
            else:
                with trio.move_on_after(left):
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


async def end_tree_by_quit(actor: Actor, path: str) -> None:
    """A child's service task: ask the root to end the tree by the user's quit in
    actor ``path``, which ended a call of another tree's actor (see
    ``DebugHook.quit_left_the_tree``). The root gone: nothing is left to end."""
    from . import lock as tty_lock

    try:
        portal = await actor.root_portal()
        await portal.run(tty_lock.end_tree_by_quit, path=path)
    except (ChannelClosed, OSError, RemoteActorError) as exc:
        log.debug("actor %s could not ask the root to end the tree: %s", actor.path, exc)


def quit_by(grant: Any = None) -> str:
    """The tree path of the actor whose user quit a REPL ("" when nobody did), as a
    grant (``LockGrant``) or else the last state pushed says: after a quit the tree
    ends quietly, no REPL opens anywhere."""
    return (getattr(grant, "quit_by", "") if grant is not None else "") or view.state.quit_by
