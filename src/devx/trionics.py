"""trio helpers that programs written for the peer runtime (``tractor.trionics``) use:
``collapse_eg``, ``maybe_open_nursery``, ``gather_contexts``, ``maybe_open_context``
(one async context manager shared by an actor's tasks, :mod:`devx.runtime.resource_cache`)
and the broadcast receiver (``broadcast_receiver`` over any receive channel,
``Lagged``/``BroadcastReceiver``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import trio

from .runtime.broadcast import BroadcastReceiver, Lagged, broadcast_receiver
from .runtime.resource_cache import maybe_open_context

_NOTE = "(this error was the only one of an exception group: devx.trionics.collapse_eg)"


def _collapsed(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The lone non-group error of ``group`` (looking through nested groups of one),
    or ``None`` when it holds several."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return None if isinstance(exc, BaseExceptionGroup) else exc


@asynccontextmanager
async def collapse_eg(*, add_notes: bool = True) -> AsyncIterator[None]:
    """Raise the one error of an exception group raised in the block as itself (a
    nursery of tasks where one failed); a group of several is raised unchanged."""
    try:
        yield
    except BaseExceptionGroup as group:
        exc = _collapsed(group)
        if exc is None:
            raise
        if add_notes and _NOTE not in getattr(exc, "__notes__", ()):
            exc.add_note(_NOTE)
        raise exc from exc.__cause__


@asynccontextmanager
async def maybe_open_nursery(
    nursery: trio.Nursery | None = None, shield: bool = False, **kwargs: Any
) -> AsyncIterator[trio.Nursery]:
    """``nursery`` when one is given, else a new one (``shield``: its cancel scope is
    shielded; ``kwargs`` go to ``trio.open_nursery``) that the block's end waits for."""
    if nursery is not None:
        yield nursery
        return
    async with trio.open_nursery(**kwargs) as new:
        new.cancel_scope.shield = shield
        yield new


T = TypeVar("T")


@asynccontextmanager
async def gather_contexts(
    mngrs: Iterable[AbstractAsyncContextManager[T]], tn: trio.Nursery | None = None
) -> AsyncIterator[tuple[T, ...]]:
    """Enter every async context manager of ``mngrs`` at once (each in a task of its
    own, which also exits it: a manager is entered and exited by one task) and yield
    their values in the order given once all are entered; the block's end exits them
    all, concurrently. One that fails to enter cancels the others (which are exited)
    and its error is raised. ``tn``: the nursery the holding tasks run in (default:
    one of this block)."""
    managers = list(mngrs)
    if not managers:
        raise ValueError(
            "gather_contexts() got no context managers (was it given a generator that "
            "was already consumed? pass a list)"
        )
    values: list[Any] = [None] * len(managers)
    entered = 0
    all_in, leave = trio.Event(), trio.Event()

    async def hold(i: int, mngr: AbstractAsyncContextManager[T]) -> None:
        nonlocal entered
        async with mngr as value:
            values[i] = value
            entered += 1
            if entered == len(managers):
                all_in.set()
            await leave.wait()

    async with maybe_open_nursery(tn) as nursery:
        try:
            for i, mngr in enumerate(managers):
                nursery.start_soon(hold, i, mngr)
            await all_in.wait()
            yield tuple(values)
        finally:
            leave.set()


__all__ = [
    "BroadcastReceiver",
    "Lagged",
    "broadcast_receiver",
    "collapse_eg",
    "gather_contexts",
    "maybe_open_context",
    "maybe_open_nursery",
]
