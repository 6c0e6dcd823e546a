"""Parked tasks that serve the calls which need a task of their own.

A served call that may wait (an ``async def`` that awaits, a stream, a context) runs
in a task of its own. Spawning one per call costs a trio task's start and end (the
Task, its coroutine's first step through the nursery, its exit bookkeeping): about
as much as the rest of a short call's work in the callee. A task that has served a
call parks here instead of ending, and the next call is handed to it.

Each call still runs as it would in a fresh task: in a fresh copy of the context of
the task handing it over (as ``Nursery.start_soon`` copies it), under the name of
the call (stack dumps and debugger messages name it), with its own cancel scope (the
caller makes). A parked worker is named :data:`IDLE_NAME`; at most :data:`MAX_IDLE`
park, the others end as before. Cancelling the nursery ends parked workers;
:meth:`CallWorkers.close` lets them end when the nursery is to finish without a
cancel (a parked worker would keep it open).

Not in debug mode (``park=False``): there a call may pause, and a REPL session
belongs to the task that paused (a later call in the same task would re-enter it),
so every call keeps a task of its own, as calls that could run inline keep theirs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

IDLE_NAME = "devx: idle call worker"
MAX_IDLE = 4

Job = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]


class CallWorkers:
    """The parked workers of one nursery (an actor's calls)."""

    __slots__ = ("_closed", "_idle", "_jobs")

    def __init__(self, *, park: bool = True) -> None:
        self._idle: list[trio.lowlevel.Task] = []
        self._jobs: dict[trio.lowlevel.Task, Job | None] = {}
        self._closed = not park  # never parking: every call gets a new task

    def start_soon(
        self, nursery: trio.Nursery, name: str, fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> None:
        """Run ``fn(*args)`` as ``nursery.start_soon(fn, *args, name=name)`` would:
        in a parked worker when there is one, else in a new task (that parks after)."""
        if self._closed:
            nursery.start_soon(fn, *args, name=name)
            return
        if self._idle:
            task = self._idle.pop()
            task.name = name
            # its next step runs in this context: a fresh copy, as start_soon's
            task.context = contextvars.copy_context()
            self._jobs[task] = (fn, args)
            trio.lowlevel.reschedule(task)
            return
        nursery.start_soon(self._work, fn, args, name=name)

    def close(self) -> None:
        """The nursery is to finish: parked workers end, busy ones end after their call."""
        self._closed = True
        idle, self._idle = self._idle, []
        for task in idle:
            self._jobs[task] = None
            trio.lowlevel.reschedule(task)

    async def _work(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        __tracebackhide__ = True  # debuggers show the call's frames, not this loop's
        task = trio.lowlevel.current_task()
        job: Job | None = (fn, args)
        del fn, args  # a parked worker keeps nothing of its last call alive
        while job is not None:
            await job[0](*job[1])
            job = None
            if self._closed or len(self._idle) >= MAX_IDLE:
                return
            task.name = IDLE_NAME
            task.context = contextvars.Context()  # (from its next step) nothing of the call's
            self._idle.append(task)
            # cancelled (the nursery is): the abort takes it off the list, it ends
            await trio.lowlevel.wait_task_rescheduled(partial(self._abort, task))
            job = self._jobs.pop(task)

    def _abort(self, task: trio.lowlevel.Task, _: Any) -> trio.lowlevel.Abort:
        self._idle.remove(task)
        return trio.lowlevel.Abort.SUCCEEDED
