"""The tree-global TTY lock. It lives in the root actor; any actor that wants the
terminal (a pause or a crash REPL) asks the root for it, and the root grants it to
one requester at a time in FIFO order, recording who holds it.

A child asks through :func:`request_tty`, an async-generator RPC it streams from the
root: the root yields ``"granted"`` once the lock is taken and holds it until the
child closes the stream (REPL over) or its channel breaks (the child died): either
way the generator is cancelled and the lock released, so nothing stays wedged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from ..telemetry import events

__tracebackhide__ = True


class Holder(msgspec.Struct):
    """Who holds (or waits for) the TTY, and why."""

    name: str
    uuid: str
    path: str
    pid: int
    reason: str  # pause | crash | sync_pause | thread
    since: float = 0.0  # wall clock time the lock was granted

    def attrs(self) -> dict[str, Any]:
        return {
            "devx.tty_lock.holder.path": self.path,
            "devx.tty_lock.holder.uid": f"{self.name}@{self.uuid[:8]}",
            "devx.tty_lock.holder.pid": self.pid,
            "devx.tty_lock.reason": self.reason,
        }


class TTYLock:
    """Root-side lock state: a fair (FIFO) trio lock plus who holds and who waits."""

    def __init__(self) -> None:
        self._lock = trio.Lock()
        self.holder: Holder | None = None
        self.waiting: list[Holder] = []
        self.grants = 0
        self._changed = trio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @property
    def busy(self) -> bool:
        return self.holder is not None or bool(self.waiting)

    async def wait_idle(self) -> None:
        """Until nobody holds or waits for the lock."""
        while self.busy:
            await self._changed.wait()

    @asynccontextmanager
    async def hold(self, holder: Holder) -> AsyncIterator[float]:
        """Hold the lock for ``holder``; yields the seconds it waited."""
        t0 = time.monotonic()
        self.waiting.append(holder)
        self._notify()
        try:
            await self._lock.acquire()
        finally:
            self.waiting.remove(holder)
        waited = time.monotonic() - t0
        holder.since = time.time()
        self.holder = holder
        self.grants += 1
        self._notify()
        events.event("devx.tty_lock.granted", wait_s=waited, **holder.attrs())
        try:
            yield waited
        finally:
            held = time.time() - holder.since
            self.holder = None
            self._lock.release()
            self._notify()
            events.event("devx.tty_lock.released", held_s=held, **holder.attrs())


_root_lock: TTYLock | None = None


def install(lock: TTYLock | None) -> None:
    global _root_lock
    _root_lock = lock


def root_lock() -> TTYLock:
    if _root_lock is None:
        raise RuntimeError("the TTY lock lives in the root actor, and this is not it")
    return _root_lock


# --- RPC endpoints, served by the root (module enabled by the debug boot hook) ------


async def request_tty(
    name: str, uuid: str, path: str, pid: int, reason: str
) -> AsyncIterator[dict[str, Any]]:
    """Stream from the root: one ``{"granted": ..., "wait_s": ...}`` item once the
    lock is taken for the caller; released when the caller closes the stream."""
    holder = Holder(name=name, uuid=uuid, path=path, pid=pid, reason=reason)
    async with root_lock().hold(holder) as waited:
        yield {"granted": True, "wait_s": waited}
        await trio.sleep_forever()


def lock_status() -> dict[str, Any]:
    """Who holds the TTY and how many wait (for maybe_wait_for_debugger in children)."""
    lock = root_lock()
    holder = lock.holder
    return {
        "holder": msgspec.to_builtins(holder) if holder else None,
        "waiting": len(lock.waiting),
    }
