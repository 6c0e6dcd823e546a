"""The OpenTelemetry SDK pipeline: TracerProvider + LoggerProvider, a Resource carrying
the actor's lineage, and the exporters (embedded OTLP/JSON file, OTLP HTTP or gRPC).

Loaded on the telemetry loader thread (see :mod:`devx.telemetry.backend`), never by
``import devx``. Everything that can block is bounded: flush and shutdown run on a
helper thread joined with a timeout (the SDK's ``force_flush`` ignores its timeout and
exports inline), exporters are wrapped so a dead collector is one warning, not a
traceback on the shared terminal, and the SDK's own atexit hooks are replaced by a
bounded one.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from ..core import schema
from ..core.threads import start_thread
from . import _logs_sdk
from . import backend as _backend
from ._appendfile import AppendFile, ensure_private_dir
from .backend import Ids, SpanLink, warn_once
from .collector_probe import CollectorProbe, FailFast, endpoint_address
from .config import EXPORTABLE, Settings, otlp_label
from .file_exporter import OtlpJsonFileLogExporter, OtlpJsonFileSpanExporter

SCOPE = "devx"
MAX_QUEUE = 4096
BATCH = 512
SCHEDULE_DELAY_MS = 1000  # the SDK's 5 s default outlives many short actors

# --- small SDK plug-ins -------------------------------------------------------------


class ForcedIdGenerator(RandomIdGenerator):
    """Random ids, except while a span recorded before the SDK loaded is replayed:
    then the ids it already had (children and the carrier handed out refer to them)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def force(self, trace_id: int, span_id: int) -> None:
        self._local.ids = (trace_id, span_id)

    def clear(self) -> None:
        self._local.ids = None

    def generate_trace_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[0] if ids else super().generate_trace_id()

    def generate_span_id(self) -> int:
        ids = getattr(self._local, "ids", None)
        return ids[1] if ids else super().generate_span_id()


class LineageProcessor(SpanProcessor):
    """Put the actor's lineage attributes on every span of the process (user spans too)."""

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        self.attrs = dict(attrs)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        span.set_attributes(self.attrs)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _can_make(path: str) -> bool:
    """Whether ``path``'s nearest existing folder is a folder this process may write."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def _export_failed(label: str, kind: str, exc: Exception, inner: Any) -> None:
    """An exporter raised: said once per exporter; a telemetry file that cannot be
    written is named, and no longer offered as where a dead collector's records are."""
    if label == "file":
        _backend.file_beside_collector(None)
        path = getattr(getattr(inner, "out", None), "path", "")
        warn_once(
            "export:file",
            f"writing the telemetry file {path} failed: {exc!r}; its records are "
            "lost: check DEVX_TELEMETRY_FILE (a folder that exists, writable by you)",
        )
        return
    warn_once(f"export:{label}", f"{label} {kind} export failed: {exc!r}")


class GuardedSpanExporter(SpanExporter):
    """Never raise into the SDK's worker; a failing exporter warns once per process."""

    def __init__(self, inner: SpanExporter, label: str) -> None:
        self.inner, self.label = inner, label

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            _export_failed(self.label, "span", exc, self.inner)
            return SpanExportResult.FAILURE
        if result is SpanExportResult.FAILURE:
            warn_once(
                f"export:{self.label}",
                f"{self.label} span export failed (collector down?); spans may be missing",
            )
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:
            pass


class GuardedLogExporter(_logs_sdk.LogRecordExporter):  # type: ignore[misc]
    def __init__(self, inner: Any, label: str) -> None:
        self.inner, self.label = inner, label

    def export(self, batch: Sequence[Any]) -> Any:
        try:
            result = self.inner.export(batch)
        except Exception as exc:
            _export_failed(self.label, "log", exc, self.inner)
            return _logs_sdk.LogRecordExportResult.FAILURE
        if result is not None and result.name == "FAILURE":
            warn_once(
                f"export:{self.label}",
                f"{self.label} log export failed (collector down?); records may be missing",
            )
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:
            pass


def bounded(fn: Callable[[], Any], timeout: float, what: str) -> bool:
    """Run ``fn`` on a helper thread and wait at most ``timeout`` s for it; on timeout
    it keeps running in the background (daemon) and we warn once."""
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except Exception as exc:
            errors.append(exc)
        finally:
            done.set()

    try:
        start_thread(run, f"devx-telemetry-{what}")
    except RuntimeError:  # interpreter shutting down: no new threads
        run()
    if not done.wait(max(0.0, timeout)):
        warn_once(
            f"{what}-timeout",
            f"telemetry {what} did not finish within {timeout:.1f}s "
            "(slow or unreachable collector?); not waiting any longer",
        )
        return False
    if errors:
        warn_once(f"{what}-error", f"telemetry {what} failed: {errors[0]!r}")
        return False
    return True


# --- routing the SDK's own log noise -----------------------------------------------


class _OtelNoise(logging.Handler):
    """The SDK logs export failures with tracebacks; on a terminal shared with a REPL
    that is noise. Turn them into one warning per logger."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            warn_once(f"otel:{record.name}", f"{record.name}: {record.getMessage()}")


_noise_lock = threading.Lock()
_noise_users = 0
_noise_saved: tuple[bool, logging.Handler] | None = None


def _capture_otel_logs(on: bool) -> None:
    global _noise_users, _noise_saved
    with _noise_lock:
        lg = logging.getLogger("opentelemetry")
        if on:
            _noise_users += 1
            if _noise_users == 1:
                h = _OtelNoise()
                _noise_saved = (lg.propagate, h)
                lg.addHandler(h)
                lg.propagate = False
        else:
            _noise_users = max(0, _noise_users - 1)
            if _noise_users == 0 and _noise_saved is not None:
                propagate, saved = _noise_saved
                lg.removeHandler(saved)
                lg.propagate = propagate
                _noise_saved = None


# --- the global tracer provider bridge ----------------------------------------------


class _BridgeTracer(trace.Tracer):
    """Resolves to the current devx provider's tracer at call time (no-op when none)."""

    def __init__(self, args: tuple[Any, ...]) -> None:
        self._args = args
        self._cached: tuple[Any, Any] = (None, None)

    def _tracer(self) -> trace.Tracer:
        provider = _BRIDGE.active
        if provider is None:
            return trace.NoOpTracer()
        cached_provider, tracer = self._cached
        if cached_provider is not provider:
            tracer = provider.get_tracer(*self._args)
            self._cached = (provider, tracer)
        return tracer  # type: ignore[no-any-return]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **_devx_parent(args, kwargs))

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **_devx_parent(args, kwargs))


def _devx_parent(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """No explicit context and no current OTel span (a task that started before the SDK
    loaded, a thread): parent the user's span on the current devx span."""
    if len(args) > 1 or kwargs.get("context") is not None:
        return kwargs
    if trace.get_current_span().get_span_context().is_valid:
        return kwargs
    ids = _backend.current_ids()
    if ids is not None:
        kwargs["context"] = trace.set_span_in_context(NonRecordingSpan(span_context(ids)))
    return kwargs


class _BridgeProvider(trace.TracerProvider):
    """Set once as the process's global OTel provider (if nobody else set one), so user
    instrumentation inside an actor lands in the tree's trace; each tree's sink plugs
    its own provider in and out (``set_tracer_provider`` works only once per process)."""

    active: TracerProvider | None = None

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return _BridgeTracer(
            (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        )


_BRIDGE = _BridgeProvider()


def _plug_global(provider: TracerProvider | None) -> None:
    if provider is not None and not isinstance(trace.get_tracer_provider(), _BridgeProvider):
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(_BRIDGE)
    if provider is None or isinstance(trace.get_tracer_provider(), _BridgeProvider):
        _BRIDGE.active = provider


# --- the sink ---------------------------------------------------------------------------


def span_context(ids: Ids) -> SpanContext:
    state = TraceState()
    if ids.tracestate:
        try:
            state = TraceState.from_header([ids.tracestate])
        except Exception:
            state = TraceState()
    return SpanContext(ids.trace_id, ids.span_id, ids.remote, TraceFlags(ids.flags), state)


def _context_of(ids: Ids | None) -> otel_context.Context:
    """An explicit context holding ``ids`` as the parent span (empty: a new trace)."""
    if ids is None:
        return otel_context.Context()
    return trace.set_span_in_context(NonRecordingSpan(span_context(ids)), otel_context.Context())


class OtelSink:
    """The SDK side of :class:`devx.telemetry.backend.TelemetryBackend` (its ``Sink``)."""

    def __init__(
        self,
        *,
        resource_attrs: Mapping[str, Any],
        lineage: Mapping[str, Any],
        span_exporters: Sequence[tuple[str, SpanExporter]] = (),
        log_exporters: Sequence[tuple[str, Any]] = (),
        batch: bool = True,
        set_global: bool = True,
    ) -> None:
        self.resource = Resource.create(dict(resource_attrs))
        self.ids = ForcedIdGenerator()
        self.tracer_provider = TracerProvider(
            resource=self.resource, id_generator=self.ids, shutdown_on_exit=False
        )
        self.tracer_provider.add_span_processor(LineageProcessor(lineage))
        env = os.environ
        span_delay = None if "OTEL_BSP_SCHEDULE_DELAY" in env else SCHEDULE_DELAY_MS
        log_delay = None if "OTEL_BLRP_SCHEDULE_DELAY" in env else SCHEDULE_DELAY_MS
        for label, exporter in span_exporters:
            guarded = GuardedSpanExporter(exporter, label)
            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    guarded,
                    max_queue_size=MAX_QUEUE,
                    schedule_delay_millis=span_delay,
                    max_export_batch_size=BATCH,
                )
                if batch
                else SimpleSpanProcessor(guarded)
            )
        self.logger_provider = _logs_sdk.LoggerProvider(
            resource=self.resource, shutdown_on_exit=False
        )
        for label, exporter in log_exporters:
            lguarded = GuardedLogExporter(exporter, label)
            self.logger_provider.add_log_record_processor(
                _logs_sdk.BatchLogRecordProcessor(
                    lguarded,
                    schedule_delay_millis=log_delay,
                    max_export_batch_size=BATCH,
                    max_queue_size=MAX_QUEUE,
                )
                if batch
                else _logs_sdk.SimpleLogRecordProcessor(lguarded)
            )
        from ..core import __version__

        self.tracer = self.tracer_provider.get_tracer(
            SCOPE, __version__, schema_url=schema.SCHEMA_URL
        )
        self.logger = self.logger_provider.get_logger(
            SCOPE, __version__, schema_url=schema.SCHEMA_URL
        )
        self._closed = False
        self._global = set_global
        if set_global:
            _plug_global(self.tracer_provider)
        _capture_otel_logs(True)
        atexit.register(self._atexit)

    # -- Sink -------------------------------------------------------------------------

    def start(
        self,
        name: str,
        attrs: Mapping[str, Any],
        parent: Ids | None,
        *,
        start_ns: int | None = None,
        ids: Ids | None = None,
        links: Sequence[SpanLink] = (),
    ) -> trace.Span:
        ctx = _context_of(parent)
        otel_links = [trace.Link(span_context(lids), lattrs) for lids, lattrs in links]
        if ids is None:
            return self.tracer.start_span(
                name, context=ctx, attributes=attrs, start_time=start_ns, links=otel_links
            )
        self.ids.force(ids.trace_id, ids.span_id)
        try:
            return self.tracer.start_span(
                name, context=ctx, attributes=attrs, start_time=start_ns, links=otel_links
            )
        finally:
            self.ids.clear()

    def ids_of(self, span: trace.Span) -> Ids:
        ctx = span.get_span_context()
        return Ids(
            ctx.trace_id,
            ctx.span_id,
            int(ctx.trace_flags),
            ctx.trace_state.to_header() or None if ctx.trace_state else None,
            ctx.is_remote,
        )

    def set_error(self, span: trace.Span, description: str) -> None:
        span.set_status(Status(StatusCode.ERROR, description))

    def activate(self, span: trace.Span) -> object:
        return otel_context.attach(trace.set_span_in_context(span))

    def deactivate(self, token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    def current_otel_span(self) -> trace.Span | None:
        span = trace.get_current_span()
        if span.get_span_context().is_valid and span.is_recording():
            return span
        return None

    def log(
        self,
        name: str | None,
        attrs: Mapping[str, Any],
        ids: Ids | None,
        ts: int,
        severity: int,
        body: str | None,
    ) -> None:
        sev = _logs_sdk.SeverityNumber(severity)
        self.logger.emit(
            timestamp=ts,
            observed_timestamp=time.time_ns(),
            context=_context_of(ids),
            severity_number=sev,
            severity_text=sev.name,
            body=body,
            attributes=dict(attrs),
            event_name=name,
        )

    def flush(self, timeout: float) -> bool:
        ms = int(timeout * 1000)

        def run() -> None:
            self.tracer_provider.force_flush(ms)
            self.logger_provider.force_flush(ms)

        return bounded(run, timeout, "flush")

    def flush_logs(self, timeout: float) -> bool:
        return bounded(
            lambda: self.logger_provider.force_flush(int(timeout * 1000)), timeout, "flush"
        )

    def shutdown(self, timeout: float) -> bool:
        if self._closed:
            return True
        self._closed = True
        atexit.unregister(self._atexit)
        if self._global and _BRIDGE.active is self.tracer_provider:
            _plug_global(None)

        def run() -> None:
            self.tracer_provider.shutdown()
            self.logger_provider.shutdown()

        done = bounded(run, timeout, "shutdown")
        if done:  # else an export is still stuck in the background: keep its noise muted
            _capture_otel_logs(False)
        return done

    def _atexit(self) -> None:
        self.shutdown(1.0)


# --- building the sink from settings ----------------------------------------------------


def _kept(file: str | None) -> str:
    """Where the records are while OTLP export is off."""
    if file:
        return f"the records go to the telemetry file {file}"
    return "no telemetry file is written (DEVX_TELEMETRY_FILE=PATH keeps one)"


def _otlp_exporters(
    protocol: str, file: str | None = None
) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    env = os.environ
    generic = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    want_traces = (generic or bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) and env.get(
        "OTEL_TRACES_EXPORTER", "otlp"
    ).strip().lower() != "none"
    want_logs = (generic or bool(env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"))) and env.get(
        "OTEL_LOGS_EXPORTER", "otlp"
    ).strip().lower() != "none"
    kwargs: dict[str, Any] = {}
    if not any(env.get(f"OTEL_EXPORTER_OTLP{sig}_TIMEOUT") for sig in ("", "_TRACES", "_LOGS")):
        kwargs["timeout"] = 5.0  # the 10 s default (with retries) is long for an exiting actor
    span_cls = log_cls = None
    if protocol not in EXPORTABLE:
        warn_once(
            "otlp-protocol",
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported (the OpenTelemetry "
            f"Python SDK exports OTLP as http/protobuf or grpc): OTLP export is off and "
            f"{_kept(file)}; unset it for http/protobuf, or set grpc",
        )
        return [], []
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                OTLPLogExporter as GrpcLogs,
            )
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpans,
            )

            span_cls, log_cls = GrpcSpans, GrpcLogs
        except ImportError:
            # never HTTP to the gRPC port in its place: that only fails later, quietly
            warn_once(
                "grpc",
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter: "
                f"pip install 'devx[otlp]' (OTLP export is off until then; {_kept(file)})",
            )
            return [], []
    if span_cls is None:
        try:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import (
                OTLPLogExporter as HttpLogs,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpSpans,
            )
        except ImportError:
            warn_once(
                "otlp-missing",
                "OTEL_EXPORTER_OTLP_*ENDPOINT is set but the OTLP/HTTP exporter "
                "(opentelemetry-exporter-otlp-proto-http, a devx dependency) is missing: "
                "reinstall devx",
            )
            return [], []
        span_cls, log_cls = HttpSpans, HttpLogs
    assert span_cls is not None and log_cls is not None
    label = otlp_label(protocol)
    spans: list[tuple[str, Any]] = [(label, span_cls(**kwargs))] if want_traces else []
    logs: list[tuple[str, Any]] = [(label, log_cls(**kwargs))] if want_logs else []
    # a collector that is not running costs no retries (collector_probe): one probe
    # per address, shared by the signals that export there
    probes: dict[tuple[str, int], CollectorProbe] = {}

    def fail_fast(exporters: list[tuple[str, Any]], signal: str) -> list[tuple[str, Any]]:
        address = endpoint_address(protocol, signal)
        if address is None:
            return exporters
        probe = probes.setdefault(address, CollectorProbe(address))
        return [(lbl, FailFast(exp, probe)) for lbl, exp in exporters]

    return fail_fast(spans, "TRACES"), fail_fast(logs, "LOGS")


def build_sink(
    settings: Settings,
    lineage: Mapping[str, Any],
    resource_attrs: Mapping[str, Any],
) -> OtelSink:
    """The sink for one actor process, exporting where ``settings`` say."""
    span_exporters: list[tuple[str, Any]] = []
    log_exporters: list[tuple[str, Any]] = []
    _backend.file_beside_collector(None)
    if settings.file:
        try:
            if settings.file_is_default:
                ensure_private_dir(os.path.dirname(settings.file))
            out = AppendFile(settings.file)
            span_exporters.append(("file", OtlpJsonFileSpanExporter(out)))
            log_exporters.append(("file", OtlpJsonFileLogExporter(out)))
            # (opened, its folders made, at its first write: one it cannot be made
            # in keeps nothing, which a dead collector's warning must not claim)
            if _can_make(settings.file):
                _backend.file_beside_collector(settings.file)
        except OSError as exc:
            warn_once("file", f"cannot write telemetry file {settings.file}: {exc}")
    if settings.otlp_protocol:
        spans, logs = _otlp_exporters(settings.otlp_protocol, settings.file)
        span_exporters += spans
        log_exporters += logs
    return OtelSink(
        resource_attrs=resource_attrs,
        lineage=lineage,
        span_exporters=span_exporters,
        log_exporters=log_exporters,
    )
