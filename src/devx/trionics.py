"""trio helpers that programs written for the peer runtime (``tractor.trionics``) use:
``collapse_eg`` and the broadcast receiver's ``Lagged``/``BroadcastReceiver``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .runtime.broadcast import BroadcastReceiver, Lagged

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


__all__ = ["BroadcastReceiver", "Lagged", "collapse_eg"]
