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

Each worker runs in a cancel scope of its own, for its whole life. A plain call or a
context (:meth:`CallWorkers.start_scoped`: not a stream or traced call) has no scope
of its own: the worker's is registered as the call's while it runs (trio's
``CancelScope`` enter and exit cost as much as a scheduler pass, ~1/5 of such a
call's CPU in the callee). A call cancelled through it is answered outside it (its
:meth:`ScopedCall.unwound`) and its worker ends, as the scope is spent; the call
registers the scope only while it runs, so nothing else reaches it. Other jobs bring
their own scope, nested in the worker's (never cancelled then).

Not in debug mode (``park=False``): there a call may pause, and a REPL session
belongs to the task that paused (a later call in the same task would re-enter it),
so every call keeps a task of its own, as calls that could run inline keep theirs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import trio

IDLE_NAME = "devx: idle call worker"
MAX_IDLE = 4


class ScopedCall(Protocol):
    """A call run under its worker's cancel scope (:meth:`CallWorkers.start_scoped`)."""

    async def run(self, scope: trio.CancelScope) -> None:
        """Serve the call inside ``scope``; raise (nothing answered) when ``scope``
        was cancelled or the exception is a cancel, for :meth:`unwound`."""

    async def unwound(self, exc: BaseException | None) -> None:
        """Outside the worker's scope, when :meth:`run` did not end normally: ``exc``
        what left the scope (None: the scope caught its own cancel). Re-raises what
        must go on (a cancel of the actor)."""

    def listener(self) -> Listen | None:
        """What waits for the next call on this call's channel in its worker (see
        ``Actor.listen_for_call``), None for no such wait: it holds nothing of the
        call (a parked worker keeps nothing of its last call alive)."""

    def leave(self) -> None:
        """After :meth:`run` ended normally, when its worker ends or parks instead of
        waiting for a next call: what :meth:`run` kept for that wait goes back."""


# waits for a call on a channel in a worker done with its own: the call, registered under
# the worker's scope (given) and named, to run next; None when there is none to wait for
Listen = Callable[[trio.CancelScope], Awaitable["ScopedCall | None"]]

Job = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]] | ScopedCall


class CallWorkers:
    """The parked workers of one nursery (an actor's calls)."""

    __slots__ = ("_closed", "_idle", "_jobs", "_listening", "listened")

    def __init__(self, *, park: bool = True) -> None:
        self._idle: list[tuple[trio.lowlevel.Task, trio.CancelScope]] = []
        self._jobs: dict[trio.lowlevel.Task, Job | None] = {}
        # workers waiting for their next call on a channel themselves: their scopes
        self._listening: dict[trio.lowlevel.Task, trio.CancelScope] = {}
        self.listened = 0  # calls a worker read itself (tests, benches)
        self._closed = not park  # never parking: every call gets a new task

    @property
    def parks(self) -> bool:
        """Whether calls go to parked workers (False in debug mode, or once closed)."""
        return not self._closed

    def start_soon(
        self, nursery: trio.Nursery, name: str, fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> None:
        """Run ``fn(*args)`` as ``nursery.start_soon(fn, *args, name=name)`` would:
        in a parked worker when there is one, else in a new task (that parks after)."""
        if self._closed:
            nursery.start_soon(fn, *args, name=name)
            return
        self._hand(nursery, name, (fn, args))

    def start_scoped(self, nursery: trio.Nursery, name: str, call: ScopedCall) -> trio.CancelScope:
        """Run ``call`` in a parked worker (else a new one) under the worker's cancel
        scope, which is returned: the call's, to register (only while :attr:`parks`)."""
        return self._hand(nursery, name, call)

    def _hand(self, nursery: trio.Nursery, name: str, job: Job) -> trio.CancelScope:
        if self._idle:
            task, scope = self._idle.pop()
            task.name = name
            # its next step runs in this context: a fresh copy, as start_soon's
            task.context = contextvars.copy_context()
            self._jobs[task] = job
            trio.lowlevel.reschedule(task)
            return scope
        scope = trio.CancelScope()
        nursery.start_soon(self._work, job, scope, name=name)
        return scope

    def close(self) -> None:
        """The nursery is to finish: parked workers end, busy ones end after their call."""
        self._closed = True
        for scope in self._listening.values():  # (its scope serves no call meanwhile)
            scope.cancel()
        idle, self._idle = self._idle, []
        for task, _ in idle:
            self._jobs[task] = None
            trio.lowlevel.reschedule(task)

    async def _work(self, first: Job, scope: trio.CancelScope) -> None:
        __tracebackhide__ = True  # debuggers show the call's frames, not this loop's
        task = trio.lowlevel.current_task()
        job: Job | None = first
        del first  # a parked worker keeps nothing of its last call alive
        try:
            with scope:
                while job is not None:
                    listen: Listen | None = None
                    if isinstance(job, tuple):
                        await job[0](*job[1])
                    else:
                        await job.run(scope)
                        listen = job.listener()
                    # cancelled while its call ended normally (a context's callee that
                    # ctx.cancel()-ed itself and caught the cancel): the scope is spent
                    if self._closed or len(self._idle) >= MAX_IDLE or scope.cancel_called:
                        if not isinstance(job, tuple):
                            job.leave()
                        job = None
                        return
                    if listen is None and not isinstance(job, tuple):
                        job.leave()
                    job = None
                    task.name = IDLE_NAME
                    if listen is not None:  # the next call, read off its channel by itself
                        self._listening[task] = scope
                        try:
                            job = await listen(scope)
                        finally:
                            del self._listening[task]
                        del listen
                        if job is not None:
                            self.listened += 1
                            continue
                    task.context = (
                        contextvars.Context()
                    )  # (from its next step) nothing of the call's
                    self._idle.append((task, scope))
                    # cancelled (the nursery is): the abort takes it off the list, it ends
                    await trio.lowlevel.wait_task_rescheduled(partial(self._abort, task, scope))
                    job = self._jobs.pop(task)
        except BaseException as exc:
            if job is None or isinstance(job, tuple):
                raise
            await job.unwound(exc)
            return
        if job is not None and not isinstance(job, tuple):  # the scope caught its cancel
            await job.unwound(None)

    def _abort(
        self, task: trio.lowlevel.Task, scope: trio.CancelScope, _: Any
    ) -> trio.lowlevel.Abort:
        self._idle.remove((task, scope))
        return trio.lowlevel.Abort.SUCCEEDED
