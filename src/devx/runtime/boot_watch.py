"""Booting many actors at once on a busy machine: spawns are queued (a bounded number
boot together), and a boot fails on lack of progress rather than on a fixed wall clock.

Progress is what the parent can see of a booting child: a step towards ready (its
hello, then its ready), or CPU time it used since the last look (importing its modules;
Linux ``/proc``). A child that neither moves nor computes for ``DEVX_BOOT_TIMEOUT``
seconds (an import that sleeps or waits for a lock) fails to start; one that keeps
computing is given at most :data:`MAX_SLOW_BOOTS` times that. Neither clock runs while a
REPL of the tree is live (``ipc.stall_excused``, the debug layer's view): a user may be
stopped at a ``breakpoint()`` in the very modules the child imports.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")

# how many children of one actor boot at the same time (the rest wait their turn,
# which does not count against their boot timeout)
CONCURRENT_BOOTS = max(4, 2 * (os.cpu_count() or 1))
# a boot that keeps using CPU without getting ready: given up after this many timeouts
MAX_SLOW_BOOTS = 10
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) process ``pid`` used so far; ``None`` where the
    platform does not say (no ``/proc``) or the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the fields after the command name (which may hold spaces and parentheses)
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    except (IndexError, ValueError):
        return None


class Progress:
    """What the parent saw of one booting child; :meth:`step` says it moved on."""

    def __init__(self, pid: int | None, timeout: float):
        self.pid = pid
        self.timeout = timeout
        self.started = trio.current_time()
        self.last = self.looked = self.started
        self._cpu = cpu_seconds(pid) if pid is not None else None
        self.stalled = False  # gave up: no progress for ``timeout``
        self.too_long = False  # gave up: MAX_SLOW_BOOTS timeouts while computing

    def step(self) -> None:
        self.last = trio.current_time()

    def _computed(self) -> bool:
        if self.pid is None:
            return False
        cpu = cpu_seconds(self.pid)
        if cpu is None or self._cpu is None or cpu <= self._cpu:
            return False
        self._cpu = cpu
        return True

    @property
    def poll(self) -> float:
        """How often a boot's progress is looked at."""
        return min(1.0, self.timeout / 4)

    def given_up(self) -> bool:
        """Look at the child now: True (and :attr:`stalled` or :attr:`too_long` set)
        when it made no progress for ``timeout`` seconds, or booted for
        :data:`MAX_SLOW_BOOTS` times that."""
        from .ipc import stall_excused

        now = trio.current_time()
        if stall_excused():
            # a REPL of the tree is live (maybe this child's own, stopped at a
            # `breakpoint()` in a module it imports): the user's time, not the boot's;
            # both clocks start again, whole, once it is over
            self.started += now - self.looked
            self.last = now
        elif self._computed():
            self.last = now
        self.looked = now
        if now - self.started >= MAX_SLOW_BOOTS * self.timeout:
            self.too_long = True
        elif now - self.last >= self.timeout:
            self.stalled = True
        else:
            return False
        return True

    async def watch(self, scope: trio.CancelScope) -> None:
        """Cancel ``scope`` once the child made no progress for ``timeout`` seconds
        (or booted for :data:`MAX_SLOW_BOOTS` times that)."""
        while True:
            await trio.sleep(self.poll)
            if self.given_up():
                scope.cancel()
                return

    async def step_or_exit(
        self,
        wait: Callable[[], Awaitable[T]],
        exited: trio.Event,
        on_exit: list[Callable[[], None]],
    ) -> T | None:
        """``await wait()`` (the child's next step: its hello, then its ready) and
        return what it returns; ``None`` once the child exited (``exited`` is set, and
        the callbacks of ``on_exit`` called, when it does) or the parent gave up on it
        (:meth:`given_up`). With no task of its own (a task per wait cost the boot
        scheduler passes between the child's ready and its caller): the wait runs
        under a deadline, at which the progress is looked at."""
        while not exited.is_set():
            with trio.CancelScope(deadline=trio.current_time() + self.poll) as scope:
                on_exit.append(scope.cancel)
                try:
                    got = await wait()
                finally:
                    on_exit.remove(scope.cancel)
                self.step()
                return got
            if exited.is_set() or self.given_up():
                break
        return None
