"""The telemetry file's exporters for the OpenTelemetry SDK pipeline.

Used when an actor loads the SDK anyway (an OTLP endpoint, or code using the OTel API);
otherwise :mod:`.file_sink` writes the same lines without the SDK. Both encode through
:mod:`.otlp_json`.

Needs no collector. Each line is one complete request in the standard OTLP/JSON
encoding (``ExportTraceServiceRequest`` with ``resourceSpans``/``scopeSpans``/``spans``
or ``ExportLogsServiceRequest`` with ``resourceLogs``/``scopeLogs``/``logRecords``):
lowerCamelCase field names, trace/span ids as hex, enums as integers, 64-bit integers
as decimal strings. That is what the OTel Collector's ``otlpjsonfile`` receiver reads,
so a file can be replayed into Jaeger later; :mod:`devx.telemetry.readback` parses it.

Every process of a tree appends to the same file (see :mod:`._appendfile`: ``O_APPEND``
plus one ``os.write`` per line under ``flock``), so lines never interleave.

Path (resolved by :func:`devx.telemetry.config.resolve`): ``open_root_actor(telemetry=...)``
(``RuntimeConfig.telemetry``), else ``$DEVX_TELEMETRY_FILE``, else
``<tmp>/devx-telemetry-<os uid>/<root name>-<root uuid[:8]>.otlp.jsonl`` with ``<tmp>`` the
first of ``$TMPDIR``/``$TEMP``/``$TMP`` that is a directory, else ``/tmp``. Children derive
the same default from the root's ``ActorID`` in their lineage. ``""``/``"off"`` disables it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _logs_sdk, otlp_json
from ._appendfile import AppendFile
from .otlp_json import dumps_line, key_values

__all__ = ["OtlpJsonFileLogExporter", "OtlpJsonFileSpanExporter", "encode_logs", "encode_spans"]


def _resource(resource: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": key_values(getattr(resource, "attributes", None))}
    return out


def _scope(scope: Any) -> dict[str, Any]:
    if scope is None:
        return {}
    out: dict[str, Any] = {"name": scope.name}
    if scope.version:
        out["version"] = scope.version
    attrs = getattr(scope, "attributes", None)
    if attrs:
        out["attributes"] = key_values(attrs)
    return out


def _group(items: Iterable[tuple[Any, Any, Any]]) -> list[tuple[Any, list[tuple[Any, list[Any]]]]]:
    """Group ``(resource, scope, item)`` by resource then scope, keeping first-seen order."""
    by_res: dict[int, tuple[Any, dict[Any, tuple[Any, list[Any]]]]] = {}
    for resource, scope, item in items:
        _, scopes = by_res.setdefault(id(resource), (resource, {}))
        key = (scope.name, scope.version, scope.schema_url) if scope is not None else None
        scopes.setdefault(key, (scope, []))[1].append(item)
    return [(res, list(scopes.values())) for res, scopes in by_res.values()]


# --- traces --------------------------------------------------------------------------


def _span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    parent = span.parent
    return otlp_json.span_record(
        trace_id=ctx.trace_id,
        span_id=ctx.span_id,
        trace_state=ctx.trace_state.to_header() if ctx.trace_state else None,
        trace_flags=int(ctx.trace_flags),
        parent_span_id=parent.span_id if parent is not None else None,
        parent_remote=bool(parent is not None and parent.is_remote),
        name=span.name,
        kind=span.kind.value + 1,  # Python INTERNAL=0 .. ; OTLP SPAN_KIND_INTERNAL=1 ..
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        attributes=span.attributes,
        dropped_attributes=span.dropped_attributes,
        events=[(ev.name, ev.attributes, ev.timestamp) for ev in span.events],
        dropped_events=span.dropped_events,
        links=[
            otlp_json.link_record(
                trace_id=link.context.trace_id,
                span_id=link.context.span_id,
                trace_state=link.context.trace_state.to_header()
                if link.context.trace_state
                else None,
                trace_flags=int(link.context.trace_flags),
                remote=link.context.is_remote,
                attributes=link.attributes,
                dropped_attributes=getattr(link, "dropped_attributes", 0),
            )
            for link in span.links
        ],
        dropped_links=span.dropped_links,
        status_code=span.status.status_code.value,
        status_message=span.status.description,
    )


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` in OTLP/JSON."""
    resource_spans = []
    for resource, scopes in _group((s.resource, s.instrumentation_scope, s) for s in spans):
        resource_spans.append(
            {
                "resource": _resource(resource),
                "scopeSpans": [
                    {"scope": _scope(scope), "spans": [_span(s) for s in items]}
                    | ({"schemaUrl": scope.schema_url} if scope and scope.schema_url else {})
                    for scope, items in scopes
                ],
            }
            | ({"schemaUrl": resource.schema_url} if getattr(resource, "schema_url", "") else {})
        )
    return {"resourceSpans": resource_spans}


# --- logs ----------------------------------------------------------------------------


def _log_record(record: Any) -> dict[str, Any]:
    return otlp_json.log_record(
        time_ns=record.timestamp,
        observed_ns=record.observed_timestamp,
        severity_number=record.severity_number.value
        if record.severity_number is not None
        else None,
        severity_text=record.severity_text,
        body=record.body,
        attributes=record.attributes,
        dropped_attributes=getattr(record, "dropped_attributes", 0)
        or getattr(getattr(record, "attributes", None), "dropped", 0),
        trace_id=record.trace_id,
        span_id=record.span_id,
        trace_flags=int(record.trace_flags or 0),
        event_name=getattr(record, "event_name", None),
    )


def encode_logs(batch: Sequence[Any]) -> dict[str, Any]:
    """An ``ExportLogsServiceRequest`` in OTLP/JSON from SDK log batch items."""
    parts = [_logs_sdk.record_parts(item) for item in batch]
    resource_logs = []
    for resource, scopes in _group((res, scope, rec) for rec, res, scope in parts):
        resource_logs.append(
            {
                "resource": _resource(resource),
                "scopeLogs": [
                    {"scope": _scope(scope), "logRecords": [_log_record(r) for r in items]}
                    for scope, items in scopes
                ],
            }
        )
    return {"resourceLogs": resource_logs}


# --- exporters -----------------------------------------------------------------------


class OtlpJsonFileSpanExporter(SpanExporter):
    """Append each exported span batch as one OTLP/JSON ``ExportTraceServiceRequest`` line."""

    def __init__(self, out: AppendFile | str) -> None:
        self.out = out if isinstance(out, AppendFile) else AppendFile(out)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        self.out.write(dumps_line(encode_spans(spans)))
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        self.out.close()


class OtlpJsonFileLogExporter(_logs_sdk.LogRecordExporter):  # type: ignore[misc]
    """Append each exported log batch as one OTLP/JSON ``ExportLogsServiceRequest`` line."""

    def __init__(self, out: AppendFile | str) -> None:
        self.out = out if isinstance(out, AppendFile) else AppendFile(out)

    def export(self, batch: Sequence[Any]) -> Any:
        if batch:
            self.out.write(dumps_line(encode_logs(batch)))
        return _logs_sdk.LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        self.out.close()
