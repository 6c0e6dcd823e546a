"""The telemetry file without the OpenTelemetry SDK: the default sink.

With only the embedded file configured (no OTLP endpoint, no user instrumentation),
loading the SDK would cost every actor tens of milliseconds of CPU and ~10 MiB of
memory just to write JSON lines. This sink is what
:class:`~devx.telemetry.backend.TelemetryBackend` needs of a ``Sink`` and nothing
more: spans are plain records, finished spans and log records go to one bounded
writer thread, which encodes them (:mod:`.otlp_json`, the same encoding as the SDK
exporters) and appends them to the tree's file (:mod:`._appendfile`). The lines are
those the SDK pipeline writes, with ``telemetry.sdk.name`` = ``devx``.

The writer starts with the sink (on the telemetry loader thread, not on the first
record's path: a first stack dump paid for it). It writes a line once
:data:`LINE_RECORDS` records are pending, or :data:`LINGER` after the first of them,
or at once when someone flushes; having written a line it waits for the next without
being woken at its first record, so a busy actor wakes it about once a line. Woken for
every record, it cost more than the record:
each wake-up and each of a line's three syscalls (lock, write, unlock) is a hand-over
of the GIL with the trio thread, which a busy machine makes slow (a context's two spans
cost ~2x their own CPU in those hand-overs). A longer linger with unbounded batches was
worse (50 ms, or 100 ms with a wake-up per batch: contexts 1.2x to 2.8x slower): a
batch of hundreds of records encoded in one run held the GIL while every IPC wake-up
of the trio thread waited for it; a batch is one line of at most :data:`LINE_RECORDS`.
``flush`` waits (bounded) until everything recorded before it is written, which is
what a stack dump and an actor's exit rely on. Nothing here blocks the
caller: a full queue drops (counted, one warning), a stuck file is the writer's
problem alone.
"""

from __future__ import annotations

import contextvars
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..core import schema
from ..core.threads import end_before_exit, start_thread
from . import otlp_json
from ._appendfile import AppendFile, ensure_private_dir
from .backend import (
    _CURRENT,
    SAMPLED,
    Ids,
    SpanLink,
    TelemetryBackend,
    _new_ids,
    child_ids,
    clean,
    is_cancellation,
    is_user_quit,
    status_line,
    warn_once,
)
from .config import Settings

SCOPE = "devx"
MAX_PENDING = 20_000  # records waiting for the writer; beyond that they are dropped
MAX_LINE_RECORDS = 512  # records per line at most, as the SDK's export batch
LINE_RECORDS = 16  # records per line the writer encodes between two writes (GIL let go)
# how long the writer waits for a line to fill after its first record (a flush, a stack
# dump, an exit do not wait); 0: a line per wake-up, as soon as a record comes
LINGER = 0.02


def resource_attributes(
    attrs: Mapping[str, Any], env: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The Resource the SDK would build for ``attrs``: SDK identity, then
    ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME``, then ``attrs`` (which win),
    and ``unknown_service:<python>`` when nothing names the service."""
    from ..core import __version__

    out: dict[str, Any] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "devx",
        "telemetry.sdk.version": __version__,
    }
    listed = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if listed:
        from urllib.parse import unquote  # only then: it costs an actor's boot a millisecond
    for item in listed.split(",") if listed else ():
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = unquote(value.strip())
    if env.get("OTEL_SERVICE_NAME"):
        out["service.name"] = env["OTEL_SERVICE_NAME"]
    out.update(attrs)
    if not out.get("service.name"):
        out["service.name"] = f"unknown_service:{os.path.basename(sys.executable)}"
    return out


def _limit(env: Mapping[str, str], name: str) -> int:
    """An OTel span limit from the environment (the SDK's default: 128)."""
    for var in (f"OTEL_SPAN_{name}_COUNT_LIMIT", f"OTEL_{name}_COUNT_LIMIT"):
        try:
            return max(0, int(env[var]))
        except (KeyError, ValueError):
            continue
    return 128


_NO_ATTRS: dict[str, Any] = {}


class FileSpan:
    """A span of the file sink: what the backend does to a span, kept as plain data,
    within the SDK's limits and as the SDK keeps them: past the limit the oldest
    attribute or event makes room for the new one and is counted as dropped."""

    __slots__ = (
        "__weakref__",
        "_front",
        "_ref",
        "_sink",
        "_token",
        "attrs",
        "dropped_attrs",
        "dropped_events",
        "dropped_links",
        "end_ns",
        "error",
        "events",
        "ids",
        "links",
        "name",
        "parent",
        "shared",
        "start_ns",
    )

    # what the backend's own spans (DevxSpan) have and a span of this sink stands in
    # for when the backend hands it out itself (TelemetryBackend.open): no SDK span
    real = None

    def __init__(
        self,
        sink: FileSink,
        name: str,
        ids: Ids,
        parent: Ids | None,
        attrs: Mapping[str, Any],
        start_ns: int,
        links: Sequence[SpanLink] = (),
        own: bool = False,
    ) -> None:
        self._sink = sink
        # as its own handle (TelemetryBackend.open sets them): the backend, the span's
        # entry among its open spans, the token restoring the previous current span
        self._front: TelemetryBackend | None = None
        self._ref: weakref.ref[FileSpan] | None = None
        self._token: contextvars.Token[Any] | None = None
        self.name = name
        self.ids = ids
        self.parent = parent
        self.attrs: dict[str, Any] = {}
        self.start_ns = start_ns
        self.end_ns: int | None = None
        self.events: deque[tuple[str, dict[str, Any], int]] = deque(maxlen=sink.event_limit)
        self.error: str | None = None
        self.dropped_attrs = self.dropped_events = 0
        # links are given at start only; past the limit the SDK keeps the first ones
        if links:
            self.links: Sequence[SpanLink] = list(links[: sink.link_limit])
            self.dropped_links = len(links) - len(self.links)
        else:
            self.links, self.dropped_links = (), 0
        # the sink's lineage goes after the span's own attributes, as the SDK pipeline's
        # span processor puts it there at start; kept apart (``shared``) while nothing
        # changes it, so the writer reuses its encoding instead of redoing it per span
        lineage = sink.lineage
        if len(attrs) + len(lineage) <= sink.attr_limit and lineage.keys().isdisjoint(attrs):
            # the common case: all of them, in their order (``own``: a dict of our own)
            self.attrs = attrs if own and type(attrs) is dict else dict(attrs)
            self.shared: dict[str, Any] | None = lineage or None
        else:
            self.shared = None
            self.set_attributes({**attrs, **lineage})

    def is_recording(self) -> bool:
        return self.end_ns is None

    def set_error(self, description: str) -> None:
        if self.end_ns is None:
            self.error = description

    def set_attributes(self, attrs: Mapping[str, Any]) -> None:
        if self.end_ns is not None:
            return
        if self.shared is not None:  # a change after start: the lineage becomes the span's own
            self.attrs, self.shared = {**self.attrs, **self.shared}, None
        mine, limit = self.attrs, self._sink.attr_limit
        for key, value in attrs.items():
            if key in mine:
                del mine[key]  # an update moves the key last, as in the SDK
            elif len(mine) >= limit:
                if not mine:
                    self.dropped_attrs += 1
                    continue
                del mine[next(iter(mine))]
                self.dropped_attrs += 1
            mine[key] = value

    def add_event(self, name: str, attrs: Mapping[str, Any], ts: int) -> None:
        if self.end_ns is None:
            if len(self.events) == self.events.maxlen:
                self.dropped_events += 1
            # (an event without attributes shares one empty dict: nothing changes it)
            self.events.append((name, dict(attrs) if attrs else _NO_ATTRS, ts))

    def end(self, ts: int | None = None) -> None:
        if self.end_ns is None:
            self.end_ns = ts or time.time_ns()
            # what the writer encodes: a late change from another thread cannot reach it
            self.attrs, self.events = dict(self.attrs), deque(self.events)
            self._sink._put(("span", self))
        # as a handle: ended (idempotent, as Handle.end), the previous span current again
        ref = self._ref
        if ref is not None:
            self._ref = None
            self._front._open.pop(ref, None)  # type: ignore[union-attr]
        token = self._token
        if token is not None:
            self._token = None
            try:
                _CURRENT.reset(token)
            except ValueError:  # ended from another task/context: nothing to restore
                pass

    # -- events.SpanHandle, for a span handed out as its own handle (only then has it
    # a _front): what Handle does over a DevxSpan, one layer less

    @property
    def span(self) -> FileSpan:
        return self

    def set(self, **attrs: Any) -> None:
        self.set_attributes(clean(attrs))

    def event(self, name: str, **attrs: Any) -> None:
        self._front._event_on(self, name, clean(attrs))  # type: ignore[union-attr, arg-type]

    def note(self, name: str, **attrs: Any) -> None:
        # on the span only, no log record (see Handle.note); add_event, inline
        if self.end_ns is None:
            events = self.events
            if len(events) == events.maxlen:
                self.dropped_events += 1
            events.append((name, clean(attrs) if attrs else _NO_ATTRS, time.time_ns()))

    def record_exception(self, exc: BaseException, **attrs: Any) -> None:
        front = self._front
        assert front is not None
        front._exception_on(self, exc, clean(attrs))  # type: ignore[arg-type]
        if not is_cancellation(exc) and not is_user_quit(exc):
            self.set_error(status_line(exc, front.here))

    def encode_text(self) -> str | None:
        """This span as the JSON text ``dumps_line`` writes for :meth:`encode`, built
        directly (a third of the cost: no dicts to build and walk); ``None`` for a span
        with what only :meth:`encode` covers (links, a status, a trace state, drops,
        attribute values other than str/bool/int)."""
        ids, parent = self.ids, self.parent
        if (
            ids.tracestate
            or self.links
            or self.error is not None
            or self.dropped_attrs
            or self.dropped_events
            or self.dropped_links
        ):
            return None
        attrs = otlp_json.key_values_text(self.attrs)
        if attrs is None:
            return None
        if self.shared is not None:
            shared = self._sink._lineage_text
            attrs = f"{attrs},{shared}" if attrs and shared else attrs or shared
        events = ""
        if self.events:
            parts = []
            for name, ev_attrs, ts in self.events:
                ev = otlp_json.key_values_text(ev_attrs) if ev_attrs else ""
                if ev is None:
                    return None
                parts.append(
                    f'{{"timeUnixNano":"{ts}","name":{otlp_json.str_text(name)},"attributes":[{ev}]}}'
                )
            events = ',"events":[' + ",".join(parts) + "]"
        flags = (ids.flags & 0xFF) | otlp_json.HAS_IS_REMOTE
        head = f'{{"traceId":"{ids.trace_id:032x}","spanId":"{ids.span_id:016x}"'
        if parent is not None:
            head += f',"parentSpanId":"{parent.span_id:016x}"'
            if parent.remote:
                flags |= otlp_json.IS_REMOTE
        return (
            f'{head},"flags":{flags},"name":{otlp_json.str_text(self.name)},'
            f'"kind":{otlp_json.SPAN_KIND_INTERNAL},"startTimeUnixNano":"{self.start_ns}",'
            f'"endTimeUnixNano":"{self.end_ns or 0}","attributes":[{attrs}]{events}}}'
        )

    def encode(self) -> dict[str, Any]:
        ids, parent, links = self.ids, self.parent, self.links
        # positional, in span_record's order: matching 19 keywords cost ~1 us a span
        return otlp_json.span_record(
            ids.trace_id,
            ids.span_id,
            ids.tracestate,  # trace_state
            ids.flags,  # trace_flags
            parent.span_id if parent is not None else None,  # parent_span_id
            bool(parent is not None and parent.remote),  # parent_remote
            self.name,
            otlp_json.SPAN_KIND_INTERNAL,
            self.start_ns,
            self.end_ns or 0,
            self.attrs,  # attributes
            self._sink._lineage_kv if self.shared is not None else (),  # shared_attributes
            self.dropped_attrs,
            self.events,
            self.dropped_events,
            [  # links; none on most spans: no comprehension to run then
                otlp_json.link_record(
                    trace_id=lids.trace_id,
                    span_id=lids.span_id,
                    trace_state=lids.tracestate,
                    trace_flags=lids.flags,
                    remote=lids.remote,
                    attributes=lattrs,
                )
                for lids, lattrs in links
            ]
            if links
            else None,
            self.dropped_links,
            otlp_json.STATUS_ERROR if self.error is not None else 0,  # status_code
            self.error,  # status_message
        )


class FileSink:
    """The ``Sink`` of :class:`~devx.telemetry.backend.TelemetryBackend` that writes the
    telemetry file itself; see the module docstring."""

    # no OTel context: the front never asks it for a current span nor activates one
    otel_context = False

    def __init__(
        self,
        out: AppendFile,
        *,
        resource_attrs: Mapping[str, Any],
        lineage: Mapping[str, Any],
        writer: bool = True,
    ) -> None:
        from ..core import __version__

        self.out = out
        self.lineage = dict(lineage)
        self._lineage_kv = tuple(otlp_json.key_values(self.lineage))  # on every span: once
        # through the pair cache, here on the loader thread: a span whose lineage became
        # its own (an actor's span at exit) and a record carrying the lineage (a cancel)
        # find its pairs encoded
        lineage_text = otlp_json.key_values_text(self.lineage)
        if lineage_text is None:
            lineage_text = ",".join(map(otlp_json.text, self._lineage_kv))
        self._lineage_text = lineage_text
        resource = {"attributes": otlp_json.key_values(resource_attributes(resource_attrs))}
        scope = {"scope": otlp_json.scope(SCOPE, __version__), "schemaUrl": schema.SCHEMA_URL}
        self._span_head = (resource, scope)
        # a line of spans around their JSON text (FileSpan.encode_text): what dumps_line
        # writes for the same request, its spans list cut out
        empty = otlp_json.text(
            {"resourceSpans": [{"resource": resource, "scopeSpans": [{**scope, "spans": []}]}]}
        )
        cut = len(empty) - len("]}]}]}")
        assert empty[cut - 1 :] == "[]}]}]}"
        self._spans_around = (empty[:cut], empty[cut:] + "\n")
        # the same for a line of log records (_log_text)
        logs = {"resource": resource, "scopeLogs": [{"scope": scope["scope"], "logRecords": []}]}
        empty = otlp_json.text({"resourceLogs": [logs]})
        cut = len(empty) - len("]}]}]}")
        assert empty[cut - 1 :] == "[]}]}]}"
        self._logs_around = (empty[:cut], empty[cut:] + "\n")
        self.attr_limit = _limit(os.environ, "ATTRIBUTE")
        self.event_limit = _limit(os.environ, "EVENT")
        self.link_limit = _limit(os.environ, "LINK")
        self._closed = False
        self._dropped = 0
        self._fresh_state()
        _LIVE.add(self)
        # False: no writer thread until start_writer (a record put meanwhile waits)
        self._writer_wanted = writer
        if writer:
            with self._cond:  # now (on the telemetry loader thread), not on the first record
                self._ensure_writer()

    def _fresh_state(self) -> None:
        """The writer's state: at start, and in a forked child (whose copy of the
        parent's queue is the parent's to write, and whose writer thread is gone)."""
        self._queue: deque[tuple[str, Any]] = deque()
        # reentrant: a signal handler may flush; a record takes the lock itself (the
        # Condition's own __enter__ is a Python call more per record)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._queued = 0  # records ever queued
        self._done = 0  # records written (or given up on)
        self._wanted = 0  # a flush waits until this many are done: write now
        self._writing = False  # a batch is out of the queue, being written
        # the writer waits at most LINGER for the next line (it wrote one lately): a
        # record needs no wake-up to start that wait, only a full line does
        self._lingering = False
        # threads waiting on _cond without a bound (the writer idle or behind
        # _write_last's batch, a flush): a change is notified only to them
        self._blocked = 0
        self._thread: threading.Thread | None = None

    # -- Sink: spans ---------------------------------------------------------------

    def start(
        self,
        name: str,
        attrs: Mapping[str, Any],
        parent: Ids | None,
        *,
        start_ns: int | None = None,
        ids: Ids | None = None,
        links: Sequence[SpanLink] = (),
        own: bool = False,
    ) -> FileSpan:
        """``own``: ``attrs`` is a new dict the span may keep (no copy)."""
        if ids is None:
            ids = child_ids(parent, parent.flags if parent is not None else SAMPLED)
        # the lineage goes on every span (FileSpan adds it after ``attrs``)
        return FileSpan(self, name, ids, parent, attrs, start_ns or time.time_ns(), links, own)

    def open_span(
        self,
        front: TelemetryBackend,
        name: str,
        attrs: dict[str, Any],
        parent: Ids | None,
        activate: bool,
        links: Sequence[SpanLink] = (),
        start_ns: int = 0,
    ) -> FileSpan:
        """A span that is its own handle (``TelemetryBackend.open``): tracked among
        ``front``'s open spans, current until its end when ``activate``. ``attrs``: a
        new dict of clean attributes, which the span keeps."""
        if parent is None:
            ids = child_ids(None)
        else:  # (child_ids inline: a Python call less per span)
            span_id = random.getrandbits(64) or 1
            ids = _new_ids(Ids, (parent.trace_id, span_id, parent.flags, parent.tracestate, False))
        span = FileSpan(self, name, ids, parent, attrs, start_ns or time.time_ns(), links, True)
        span._front = front
        span._ref = front._track(span)
        if activate:
            span._token = _CURRENT.set(span)  # type: ignore[arg-type]
        return span

    def ids_of(self, span: FileSpan) -> Ids:
        return span.ids

    def set_error(self, span: FileSpan, description: str) -> None:
        span.set_error(description)

    def activate(self, span: FileSpan) -> object:
        return None  # no OTel context to make it current in: the backend's own suffices

    def deactivate(self, token: object) -> None:
        pass

    def current_otel_span(self) -> None:
        return None

    # -- Sink: logs ----------------------------------------------------------------

    def log(
        self,
        name: str | None,
        attrs: Mapping[str, Any],
        ids: Ids | None,
        ts: int,
        severity: int,
        body: str | None,
    ) -> None:
        self._put(("log", (name, dict(attrs), ids, ts, time.time_ns(), severity, body)))

    # -- Sink: flush and shutdown --------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything recorded so far is written (at most ``timeout`` s)."""
        with self._cond:
            target = self._wanted = max(self._wanted, self._queued)
            if self._thread is None:  # a sink built without one (or a fork's copy)
                self._writer_wanted = True
                self._ensure_writer()
            self._cond.notify_all()
            self._blocked += 1
            try:
                return self._cond.wait_for(lambda: self._done >= target, max(0.0, timeout))
            finally:
                self._blocked -= 1

    def flush_logs(self, timeout: float) -> bool:
        return self.flush(timeout)

    def shutdown(self, timeout: float) -> bool:
        done = self._write_last() or self.flush(timeout)
        with self._cond:
            self._closed = True
            if self._blocked:  # a writer lingering sees it at the end of its linger
                self._cond.notify_all()
        if done:
            self.out.close()  # everything is written; a process running tree after tree
        else:
            warn_once(
                "export:file",
                f"writing the telemetry file {self.out.path} did not finish within "
                f"{timeout:.1f}s; records may be missing",
            )
        if self._dropped:
            warn_once("file-dropped", f"{self._dropped} telemetry records dropped (writer behind)")
        return done

    def linger(self) -> None:
        """Put the writer into its linger now, so that the records coming next wait
        for its end (at most LINGER) or a flush instead of waking it: a teardown about
        to start, whose records come in a burst that the exit writes itself. An idle
        writer is woken for it here, while the caller is about to wait (its children's
        exit), not by the first of those records, in the middle of the exit."""
        if not LINGER:
            return
        with self._cond:
            if self._closed or self._thread is None or self._lingering:
                return
            self._lingering = True
            if self._blocked:
                self._cond.notify_all()

    def write_pending_now(self) -> bool:
        """Write what is pending on this thread, opening the file if need be (a
        regular file only: a FIFO's open may wait for a reader); False: it could not
        (the file busy or not regular), and what is pending is the writer's, started
        now. A sink built without a writer starts it with :meth:`start_writer`."""
        try:
            self.out.open_regular()
        except OSError:
            pass
        if self._write_last():
            with self._cond:
                # a line was just written: the writer (once started) waits up to LINGER
                # for the next, as after a line of its own, not woken by its first
                # record (a child's cancel, right before its exit writes it anyway)
                self._lingering = bool(LINGER)
            return True
        self.start_writer()
        return False

    def start_writer(self) -> None:
        """Start the writer thread of a sink built without one (``writer=False``):
        from now on a record put starts it too. What is pending is written at once
        (it waited for the writer already)."""
        with self._cond:
            self._writer_wanted = True
            self._ensure_writer()
            if self._queue:
                self._wanted = max(self._wanted, self._queued)
                self._cond.notify_all()

    def _write_last(self) -> bool:
        """At shutdown, write what is pending on the closing thread itself, when
        nothing can make it wait: no batch is being written, and the file is a regular
        one, open, whose lock is free at once. Handing the last batch to the writer
        and waiting for it cost every actor's exit two thread hand-offs (ms on a busy
        machine). False: the writer is to do it (:meth:`flush`, bounded)."""
        with self._cond:
            if self._writing or self._closed:
                return False
            if not self._queue:
                return True  # everything queued is written
            batch = list(self._queue)
            self._queue.clear()
            self._writing = True
        written = False
        try:
            written = self.out.write_now(self._encode(batch))
        except Exception as exc:  # as the writer does: one warning, the records given up
            written = True
            warn_once("export:file", f"writing the telemetry file {self.out.path} failed: {exc!r}")
        finally:
            with self._cond:
                if written:
                    self._done += len(batch)
                else:  # back to the writer, in their order
                    self._queue.extendleft(reversed(batch))
                self._writing = False
                if self._blocked:  # not a writer lingering: nothing it waits for changed
                    self._cond.notify_all()
        return written

    # -- the writer ------------------------------------------------------------------

    def _put(self, item: tuple[str, Any]) -> None:
        with self._lock:
            if self._closed:
                return
            if len(self._queue) >= MAX_PENDING:
                self._dropped += 1
                return
            self._queued += 1  # first: an interrupt in between can only delay a flush
            self._queue.append(item)
            if self._thread is None and self._writer_wanted:  # gone with a fork
                self._ensure_writer()
            pending = len(self._queue)
            if pending >= LINE_RECORDS or not LINGER or (pending == 1 and not self._lingering):
                self._cond.notify_all()  # a full line; the first: the linger starts

    def _ensure_writer(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = start_thread(self._run, "devx-telemetry-file")
            end_before_exit(self._thread, self._end_writer)

    def _end_writer(self) -> bool:
        """At the process's exit: a closed sink's idle writer is woken to end (True);
        one that still writes, or a sink still open, is left to the exit."""
        if not self._lock.acquire(timeout=0.005):
            return False
        try:
            if not self._closed or self._writing or self._queue:
                return False
            self._cond.notify_all()
            return True
        finally:
            self._lock.release()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._lingering:  # idle: the first record wakes us (or linger())
                    self._blocked += 1
                    self._cond.wait_for(lambda: self._queue or self._closed or self._lingering)
                    self._blocked -= 1
                if LINGER and not self._line_due():
                    self._cond.wait_for(self._line_due, LINGER)
                if self._writing:  # _write_last's batch
                    self._blocked += 1
                    self._cond.wait_for(lambda: not self._writing)
                    self._blocked -= 1
                if not self._queue:
                    if self._closed:
                        self.out.close()  # closed and drained (a late write finished)
                        return
                    # nothing came within LINGER (or _write_last took it): idle
                    self._lingering = False
                    continue
                batch = list(self._queue)
                self._queue.clear()
                self._writing = True
                # records keep coming while an actor works: wait for the next line
                # (at most LINGER) without a wake-up at its first record
                self._lingering = bool(LINGER)
            for i in range(0, len(batch), LINE_RECORDS):
                part = batch[i : i + LINE_RECORDS]
                try:
                    self._write(part)  # its write lets the GIL go
                except Exception as exc:  # a full disk, a file gone: one warning, keep going
                    warn_once(
                        "export:file",
                        f"writing the telemetry file {self.out.path} failed: {exc!r}",
                    )
                with self._cond:
                    self._done += len(part)
                    if i + LINE_RECORDS >= len(batch):
                        self._writing = False
                    self._cond.notify_all()

    def _line_due(self) -> bool:
        """A line is to be written now, not after the linger (called holding _cond)."""
        return len(self._queue) >= LINE_RECORDS or self._wanted > self._done or self._closed

    def _write(self, batch: list[tuple[str, Any]]) -> None:
        data = self._encode(batch)
        if data:
            self.out.write(data)

    def _encode(self, batch: list[tuple[str, Any]]) -> bytes:
        spans = [item for kind, item in batch if kind == "span"]
        logs = [item for kind, item in batch if kind == "log"]
        resource, scope = self._span_head
        data = b""
        for i in range(0, len(spans), MAX_LINE_RECORDS):
            part = spans[i : i + MAX_LINE_RECORDS]
            line = self._span_line(part)
            if line is not None:
                data += line
                continue
            chunk = [e for e in map(_encoded, part) if e]
            data += otlp_json.dumps_line(
                {
                    "resourceSpans": [
                        {"resource": resource, "scopeSpans": [{**scope, "spans": chunk}]}
                    ]
                }
            )
        for i in range(0, len(logs), MAX_LINE_RECORDS):
            part_logs = logs[i : i + MAX_LINE_RECORDS]
            line = self._log_line(part_logs)
            if line is not None:
                data += line
                continue
            records = [_log_record(*rec) for rec in part_logs]
            data += otlp_json.dumps_line(
                {
                    "resourceLogs": [
                        {
                            "resource": resource,
                            "scopeLogs": [{"scope": scope["scope"], "logRecords": records}],
                        }
                    ]
                }
            )
        return data

    def _span_line(self, spans: list[FileSpan]) -> bytes | None:
        """A line of ``spans`` from their JSON text (:meth:`FileSpan.encode_text`), the
        same bytes as through ``encode`` and ``dumps_line``; ``None`` when one of them
        needs that general way (which also isolates a span that cannot be encoded)."""
        return _joined_line((span.encode_text() for span in spans), self._spans_around)

    def _log_line(self, logs: list[tuple[Any, ...]]) -> bytes | None:
        """A line of log records from their JSON text (:func:`_log_text`), the same
        bytes as through ``_log_record`` and ``dumps_line``; ``None`` when one of them
        needs that general way."""
        return _joined_line((_log_text(*rec) for rec in logs), self._logs_around)


def _joined_line(texts: Iterator[str | None], around: tuple[str, str]) -> bytes | None:
    """One line: the items' JSON texts (made as it is read, so that an item that
    cannot be encoded, a lone surrogate say, is caught here) between ``around``'s
    head and tail; ``None`` when one has none or fails: the general way
    (``dumps_line``) has the way to write it."""
    parts = []
    try:
        for one in texts:
            if one is None:
                return None
            parts.append(one)
        head, tail = around
        return (head + ",".join(parts) + tail).encode()
    except Exception:
        return None


def _log_text(
    name: str | None,
    attrs: dict[str, Any],
    ids: Ids | None,
    ts: int,
    observed: int,
    severity: int,
    body: str | None,
) -> str | None:
    """One log record as the JSON text ``dumps_line`` writes for :func:`_log_record`,
    built directly (the line's resource and scope are the sink's, encoded once);
    ``None`` for what only the general way covers (attribute values other than
    str/bool/int, a body that is not a str)."""
    if type(severity) is not int or (body is not None and type(body) is not str):
        return None
    attributes = otlp_json.key_values_text(attrs) if attrs else ""
    if attributes is None:
        return None
    parts = []
    if ts:
        parts.append(f'"timeUnixNano":"{ts}"')
    if observed:
        parts.append(f'"observedTimeUnixNano":"{observed}"')
    parts.append(f'"severityNumber":{severity}')
    sev = otlp_json.severity_text(severity)
    if sev:
        parts.append(f'"severityText":{otlp_json.str_text(sev)}')
    if body is not None:
        # an event's body is its name (a few, cached); a log line's is its own
        text = otlp_json.str_text(body) if body == name else otlp_json.text(body)
        parts.append(f'"body":{{"stringValue":{text}}}')
    parts.append(f'"attributes":[{attributes}]')
    if ids is not None and ids.trace_id:
        parts.append(
            f'"traceId":"{ids.trace_id:032x}","spanId":"{ids.span_id or 0:016x}",'
            f'"flags":{ids.flags & 0xFF}'
        )
    if name:
        parts.append(f'"eventName":{otlp_json.str_text(name)}')
    return "{" + ",".join(parts) + "}"


def _encoded(span: FileSpan) -> dict[str, Any] | None:
    """One span's encoding; a span that cannot be encoded is lost alone, not its batch."""
    try:
        return span.encode()
    except Exception as exc:
        warn_once("file-span", f"a span could not be written to the telemetry file: {exc!r}")
        return None


_LIVE: weakref.WeakSet[FileSink] = weakref.WeakSet()


def _before_fork() -> None:
    for sink in list(_LIVE):
        sink._cond.acquire()  # no fork in the middle of a queue update


def _after_fork_in_parent() -> None:
    for sink in list(_LIVE):
        sink._cond.release()


def _after_fork_in_child() -> None:
    for sink in list(_LIVE):
        sink._fresh_state()  # a user's os.fork() inside an actor: its records still land
        sink.out.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _log_record(
    name: str | None,
    attrs: dict[str, Any],
    ids: Ids | None,
    ts: int,
    observed: int,
    severity: int,
    body: str | None,
) -> dict[str, Any]:
    return otlp_json.log_record(
        time_ns=ts,
        observed_ns=observed,
        severity_number=severity,
        severity_text=otlp_json.severity_text(severity),
        body=body,
        attributes=attrs,
        trace_id=ids.trace_id if ids is not None else None,
        span_id=ids.span_id if ids is not None else None,
        trace_flags=ids.flags if ids is not None else 0,
        event_name=name,
    )


def build_sink(
    settings: Settings,
    lineage: Mapping[str, Any],
    resource_attrs: Mapping[str, Any],
    *,
    writer: bool = True,
) -> FileSink:
    """The file sink for one actor process (``settings.file`` must be set).
    ``writer=False``: no writer thread until :meth:`FileSink.start_writer` (or a
    flush, or what :meth:`FileSink.write_pending_now` could not write)."""
    path = settings.file
    assert path
    if settings.file_is_default:
        try:
            ensure_private_dir(os.path.dirname(path))
        except OSError as exc:
            raise OSError(
                f"cannot write the telemetry file {path}: {exc}; remove that directory, or "
                "name a file of yours with DEVX_TELEMETRY_FILE"
            ) from exc
    return FileSink(AppendFile(path), resource_attrs=resource_attrs, lineage=lineage, writer=writer)
