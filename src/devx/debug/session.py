"""A REPL session: the TTY lock held from the moment it is granted until the user
leaves the REPL, with the banner, terminal-state care and telemetry around it.

The lock is held by a small task in the actor's service nursery, so that leaving
the REPL (a plain synchronous ``continue``/``quit`` inside pdb, while the trio loop
is blocked) only has to set an event: the task then releases the lock, locally in
the root or over IPC to it.

A session may also be opened on behalf of another thread (``pause_from_sync`` from a
worker or bare thread: :mod:`devx.debug.sync`); the REPL then runs in that thread
while the actor's loop goes on, and :meth:`Session.release` hands the event over to
the loop thread instead of touching trio state from the wrong thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import FrameType
from typing import Any

import trio

from ..runtime.actor import Actor
from ..runtime.errors import ChannelClosed
from ..telemetry import events
from . import lock as tty_lock

__tracebackhide__ = True

# the session live in this process (a REPL open or about to open), if any
current: Session | None = None

# sessions whose lock-holding task still runs (it records the release on its way out)
_holding: set[Session] = set()


async def drain_released(timeout: float = 1.0) -> None:
    """Let the holding tasks of sessions already left (continue/quit) finish releasing
    the lock, so the release is recorded before an exiting actor's telemetry closes
    (a crash REPL in the root ends right before the root exits)."""
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        for session in list(_holding):
            if session._done:
                await session._finished.wait()


def interactive() -> bool:
    """Whether a REPL can be had: stdin is a terminal that is not closed."""
    stdin = sys.stdin
    try:
        return stdin is not None and not stdin.closed and stdin.isatty()
    except (ValueError, OSError):
        return False


def frame_attrs(frame: FrameType | None) -> dict[str, Any]:
    if frame is None:
        return {}
    code = frame.f_code
    return {
        "code.filepath": code.co_filename,
        "code.lineno": frame.f_lineno,
        "code.function": code.co_name,
    }


class Session:
    """One actor's turn at the terminal."""

    def __init__(self, actor: Actor, reason: str):
        self.actor = actor
        self.reason = reason
        self.pdb: Any = None
        self.wait_s = 0.0
        self._released = trio.Event()
        self._finished = trio.Event()  # the holding task is done: lock released
        self._done = False
        self._done_lock = threading.Lock()
        self._loop_thread = threading.get_ident()  # sessions are created on the trio thread
        # set by pause_from_sync when the REPL runs in another thread: named in the banner
        self.thread_name: str | None = None
        # the thread the REPL runs in (SIGINT may only interrupt it if it is the main one)
        self.repl_thread: int | None = None
        self._lock_span: Any = None
        self._repl_span: Any = None
        self._tty: Any = None

    @classmethod
    async def open(cls, actor: Actor, reason: str) -> Session:
        """Wait for the TTY lock (cancellable) and return the session holding it."""
        global current
        session = cls(actor, reason)
        events.event("devx.tty_lock.requested", reason=reason, **actor.lineage_attrs())
        await actor.start_service(session._hold)
        current = session
        return session

    async def _hold(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        _holding.add(self)
        try:
            await self._hold_lock(task_status)
        finally:
            _holding.discard(self)
            self._finished.set()

    async def _hold_lock(self, task_status: trio.TaskStatus[None]) -> None:
        actor = self.actor
        t0 = time.monotonic()
        if actor.is_root:
            holder = tty_lock.Holder(
                name=actor.name,
                uuid=actor.uid.uuid,
                path=actor.path,
                pid=actor.pid,
                reason=self.reason,
            )
            async with tty_lock.root_lock().hold(holder):
                self._granted(time.monotonic() - t0)
                task_status.started()
                await self._released.wait()
            return
        portal = await actor.root_portal()
        async with portal.open_stream_from(
            tty_lock.request_tty,
            name=actor.name,
            uuid=actor.uid.uuid,
            path=actor.path,
            pid=actor.pid,
            reason=self.reason,
        ) as stream:
            async for _grant in stream:
                break
            else:
                raise ChannelClosed("the root actor ended the TTY lock request")
            self._granted(time.monotonic() - t0)
            task_status.started()
            await self._released.wait()

    def _granted(self, waited: float) -> None:
        self.wait_s = waited
        self._lock_span = events.start_span(
            "devx.tty_lock.held",
            reason=self.reason,
            wait_s=waited,
            **self.actor.lineage_attrs(),
        )

    def announce(self, what: str) -> None:
        """The banner: which actor, where in the tree, and why it stopped."""
        actor = self.actor
        if self.thread_name is not None:
            what = f"thread {self.thread_name!r}" + (f": {what}" if what else "")
        line = (
            f"\n>>> devx {self.reason.upper()} in actor {actor.name!r} "
            f"(path {actor.path}, pid {os.getpid()}){': ' + what if what else ''}"
        )
        _write(line + "\n")

    def repl_started(self, frame: FrameType | None) -> None:
        """Mark the REPL entry (telemetry, terminal state) just before it blocks."""
        self.repl_thread = threading.get_ident()
        self._repl_span = events.start_span(
            "devx.repl", reason=self.reason, **frame_attrs(frame), **self.actor.lineage_attrs()
        )
        self._tty = _save_tty()
        events.flush_soon(0.5)  # the trace is visible while the user sits in the REPL

    def release(self) -> None:
        """Leave the REPL: restore the terminal, end the spans, free the lock.
        Synchronous and idempotent (called from inside pdb on continue/quit), from
        the actor's trio thread or from the thread a sync pause ran its REPL in."""
        global current
        with self._done_lock:
            if self._done:
                return
            self._done = True
        _restore_tty(self._tty)
        for span in (self._repl_span, self._lock_span):
            if span is not None:
                span.end()
        if current is self:
            current = None
        if threading.get_ident() == self._loop_thread:
            self._released.set()
            return
        # a trio.Event may only be set on its loop's thread: hand it over, without
        # waiting (the loop is free: only this thread was stopped)
        token = self.actor.trio_token
        if token is None:
            return
        try:
            token.run_sync_soon(self._released.set)
        except trio.RunFinishedError:
            pass  # the actor is gone, and its lock holder with it


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def _save_tty() -> Any:
    try:
        import termios

        fd = sys.stdin.fileno()
        return fd, termios.tcgetattr(fd)
    except Exception:
        return None


def _restore_tty(saved: Any) -> None:
    if saved is None:
        return
    try:
        import termios

        fd, attrs = saved
        termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
    except Exception:
        pass
