"""The one small event API that runtime and debug code call to record what happens.

Everything here is a thin dispatch onto the installed :class:`Backend`. The default
backend is :class:`NullBackend`, whose methods do nothing, so calling the API costs a
function call and an attribute lookup when telemetry is off. When telemetry is on,
``devx.telemetry.boot`` installs :class:`devx.telemetry.backend.TelemetryBackend`: a
stdlib-only front that records at once and hands everything to its sink once that has
loaded in the background (the SDK-free telemetry file, :mod:`devx.telemetry.file_sink`,
or the OpenTelemetry SDK pipeline, :mod:`devx.telemetry.otel`), which keeps
``import devx`` and an actor's boot free of opentelemetry imports.

Call sites never test ``if otel:``; they call ``span()``, ``event()``, ``exception()``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

Attrs = Mapping[str, Any]


class Link(NamedTuple):
    """An OpenTelemetry span link: from a span to a span of another trace (a call
    into another tree names the callee's span), given as that span's W3C carrier
    (``traceparent``/``tracestate``, what :func:`carrier` returns there). An invalid
    carrier is no link."""

    carrier: Mapping[str, str]
    attrs: Attrs | None = None


class SpanHandle(Protocol):
    """An open span: annotate it, add point events to it, end it (idempotent)."""

    def set(self, **attrs: Any) -> None: ...

    def event(self, name: str, **attrs: Any) -> None: ...

    def note(self, name: str, **attrs: Any) -> None:
        """A span event with no log record: a step in the span's own life (a
        context's ``started``), read on the span, never searched for on its own."""
        ...

    def record_exception(self, exc: BaseException, **attrs: Any) -> None: ...

    def end(self) -> None: ...


class Backend(Protocol):
    """What a telemetry implementation provides. See ``devx.telemetry.backend``."""

    def start_span(
        self,
        name: str,
        attrs: Attrs,
        *,
        activate: bool,
        parent: SpanHandle | None = None,
        links: Sequence[Link] = (),
    ) -> SpanHandle: ...

    def event(self, name: str, attrs: Attrs) -> None: ...

    def exception(self, exc: BaseException, attrs: Attrs) -> None: ...

    def carrier(self) -> dict[str, str]: ...

    def flush(self, timeout: float) -> None: ...

    def wait_ready(self, timeout: float) -> bool: ...

    def shutdown(self, timeout: float) -> None: ...


class _NullSpan:
    __slots__ = ()

    def set(self, **attrs: Any) -> None:
        pass

    def event(self, name: str, **attrs: Any) -> None:
        pass

    def note(self, name: str, **attrs: Any) -> None:
        pass

    def record_exception(self, exc: BaseException, **attrs: Any) -> None:
        pass

    def end(self) -> None:
        pass


NULL_SPAN: SpanHandle = _NullSpan()


class _LiveParent(_NullSpan):
    """Marker parent: this actor's start span (see :func:`start_live_span`)."""

    __slots__ = ()


LIVE_PARENT: SpanHandle = _LiveParent()


class NullBackend:
    """Telemetry off: every call is a no-op."""

    def start_span(
        self,
        name: str,
        attrs: Attrs,
        *,
        activate: bool,
        parent: SpanHandle | None = None,
        links: Sequence[Link] = (),
    ) -> SpanHandle:
        return NULL_SPAN

    def event(self, name: str, attrs: Attrs) -> None:
        pass

    def exception(self, exc: BaseException, attrs: Attrs) -> None:
        pass

    def carrier(self) -> dict[str, str]:
        return {}

    def flush(self, timeout: float) -> None:
        pass

    def wait_ready(self, timeout: float) -> bool:
        return True

    def shutdown(self, timeout: float) -> None:
        pass


_backend: Backend = NullBackend()


def install(backend: Backend | None) -> Backend:
    """Install ``backend`` (``None`` restores the null backend); returns the previous one."""
    global _backend
    prev, _backend = _backend, backend or NullBackend()
    return prev


def backend() -> Backend:
    return _backend


def enabled() -> bool:
    return not isinstance(_backend, NullBackend)


class _Span:
    """What :func:`span` returns: a plain context manager (a generator-based one cost
    a context's span as much again as opening it)."""

    __slots__ = ("_attrs", "_handle", "_links", "_name")

    def __init__(self, name: str, links: Sequence[Link], attrs: dict[str, Any]) -> None:
        self._name, self._links, self._attrs = name, links, attrs
        self._handle: SpanHandle = NULL_SPAN

    def __enter__(self) -> SpanHandle:
        if self._links:
            handle = _backend.start_span(self._name, self._attrs, activate=True, links=self._links)
        else:  # as before links existed (a backend of a test or of a user)
            handle = _backend.start_span(self._name, self._attrs, activate=True)
        self._handle = handle
        return handle

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> None:
        handle = self._handle
        try:
            if exc is not None:
                handle.record_exception(exc)
        finally:
            handle.end()


def span(
    name: str, *, links: Sequence[Link] = (), **attrs: Any
) -> AbstractContextManager[SpanHandle]:
    """Open a span that is the current span inside the block; an escaping exception
    is recorded on it (per the OTel exception conventions) before it ends. ``links``:
    spans of other traces it refers to (:class:`Link`)."""
    return _Span(name, links, attrs)


def open_span(name: str, attrs: dict[str, Any], start_ns: int = 0) -> SpanHandle:
    """What ``with span(name, **attrs) as handle`` opens, without the ``with``: the
    span is current until ``handle.end()``; the caller records an escaping exception
    (``handle.record_exception(exc)``) and ends it. For a hot path (each side of a
    context): no context manager object, no keyword dict built again. ``start_ns``:
    the span began then (``time.time_ns()``), before this call: opened late, off a
    hot path, it keeps its true start (a backend that does not say it takes one,
    ``takes_start_ns``, starts it now)."""
    if start_ns and getattr(_backend, "takes_start_ns", False):
        return _backend.start_span(name, attrs, activate=True, start_ns=start_ns)  # type: ignore[call-arg]
    return _backend.start_span(name, attrs, activate=True)


def start_span(name: str, *, parent: SpanHandle | None = None, **attrs: Any) -> SpanHandle:
    """Open a span that outlives a ``with`` block (e.g. a lock hold); call ``.end()``.
    It does not become the current span. ``parent``: under that span instead of the
    current one (a REPL under its hold). (Links: :func:`span`, or the backend's
    ``start_span``; a ``links`` keyword here would be taken by callers' ``**attrs``.)"""
    return _backend.start_span(name, attrs, activate=False, parent=parent)


def start_live_span(name: str, **attrs: Any) -> SpanHandle:
    """Like :func:`start_span`, under this actor's start span rather than the current
    one: for what a trace view must show while the tree still runs (a turn at the
    terminal, a stack dump). That parent was exported at boot, so the span is nested
    in a rooted trace as soon as it ends, not orphaned until every lifetime ends."""
    return _backend.start_span(name, attrs, activate=False, parent=LIVE_PARENT)


def enter_live_span(
    name: str, links: Sequence[Link] = (), under: SpanHandle | None = None, /, **attrs: Any
) -> SpanHandle:
    """Like :func:`start_live_span` (or under ``under``: a span of its own, ended and
    exported already), but the current span of this task until ``.end()`` (what the
    task records nests under it), with ``links``: a task serving a call from another
    tree, its span in this tree's live trace."""
    parent = LIVE_PARENT if under is None else under
    if links:
        return _backend.start_span(name, attrs, activate=True, parent=parent, links=links)
    return _backend.start_span(name, attrs, activate=True, parent=parent)


def live_mark(name: str, links: Sequence[Link] = (), /, **attrs: Any) -> SpanHandle:
    """A span under this actor's start span, ended at once, so exported with the next
    batch: what a live trace view shows of something that has only begun (a call
    from another tree being served); returned to be the parent of its lifetime."""
    if links:
        mark = _backend.start_span(name, attrs, activate=False, parent=LIVE_PARENT, links=links)
    else:
        mark = _backend.start_span(name, attrs, activate=False, parent=LIVE_PARENT)
    mark.end()
    return mark


def wait_ready(timeout: float) -> bool:
    """Wait (at most ``timeout`` s) until what is recorded can be exported (the
    sink has loaded): before a prompt, so a hold just granted is on its way out while
    the user reads it. True when ready (or telemetry is off)."""
    return _backend.wait_ready(timeout)


def event(name: str, **attrs: Any) -> None:
    """A point event: added to the current span and emitted as a log record."""
    _backend.event(name, attrs)


def exception(exc: BaseException, **attrs: Any) -> None:
    """Record ``exc`` on the current span and as a log record (written synchronously)."""
    _backend.exception(exc, attrs)


def carrier() -> dict[str, str]:
    """W3C trace-context headers (``traceparent``/``tracestate``) of the current span,
    handed to a child at spawn so its spans join the tree's trace."""
    return _backend.carrier()


def flush(timeout: float = 1.0) -> None:
    """Export everything buffered, bounded by ``timeout`` seconds."""
    _backend.flush(timeout)


def flush_soon(timeout: float = 1.0, after: float = 0.0) -> None:
    """Export everything buffered on a helper thread, without waiting for it: for a
    caller about to block (a REPL waiting for input), whose records should go out
    while it waits rather than delay what the user sees. ``after``: not before this
    many seconds (a REPL's prompt is drawn first: an export started at the grant
    competed with the banner and prompt for the GIL). One long-lived flusher thread
    per process serves every call (a thread started per REPL cost ~1/5 of a warm
    pause); requests made while it waits or flushes fold into one, due at the
    earliest time asked. No thread when telemetry is off."""
    if not enabled():
        return
    _flusher.request(timeout, after)


class _Flusher:
    """The one thread behind :func:`flush_soon`: at most one pending request (the
    longest timeout asked for), started on first use, again in a forked child."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._pending: float | None = None
        self._due = 0.0  # time.monotonic() the pending flush is due at
        self._pid = 0  # the process whose thread runs; 0: none yet

    def request(self, timeout: float, after: float = 0.0) -> None:
        due = time.monotonic() + after
        with self._cond:
            pending = self._pending
            if pending is not None and pending >= timeout and self._due <= due:
                if self._pid == os.getpid():
                    return  # one as long is due as soon: the thread waits for it already
            self._due = due if self._pending is None else min(self._due, due)
            self._pending = max(self._pending or 0.0, timeout)
            if self._pid != os.getpid():
                from .threads import start_thread

                try:
                    start_thread(self._run, "devx-telemetry-flush-soon")
                except RuntimeError:  # interpreter shutting down
                    self._pending = None
                    return
                self._pid = os.getpid()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                while (left := self._due - time.monotonic()) > 0:
                    self._cond.wait(left)  # an earlier request moves the due time up
                timeout, self._pending = self._pending, None
            try:
                _backend.flush(timeout or 0.0)
            except Exception:  # a failed export is the backend's to report, never ours
                pass

    def after_fork_in_child(self) -> None:
        self._cond = threading.Condition(threading.Lock())  # the parent's may be held
        self._pending, self._pid = None, 0


_flusher = _Flusher()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flusher.after_fork_in_child)
