"""Read an embedded telemetry file (OTLP/JSON lines) back into plain dicts.

For tests and the CLI: no OpenTelemetry import, just ``json``. A span comes back as::

    {"trace_id", "span_id", "parent_span_id" (None for a root), "parent_is_remote",
     "name", "kind", "start_ns", "end_ns", "attributes": {...},
     "events": [{"name", "time_ns", "attributes"}],
     "links": [{"trace_id", "span_id", "attributes"}], "status_code", "status_message",
     "resource": {...}, "scope"}

and a log record as::

    {"time_ns", "observed_ns", "severity_number", "severity_text", "body",
     "event_name", "trace_id", "span_id", "attributes": {...}, "resource": {...}, "scope"}
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any


class CorruptLine(ValueError):
    """A line of the telemetry file is not one JSON request (torn or interleaved write)."""


def decode_value(value: dict[str, Any]) -> Any:
    """An OTLP/JSON ``AnyValue`` as a Python value."""
    if not value:
        return None
    ((kind, v),) = value.items()
    if kind == "stringValue":
        return v
    if kind == "boolValue":
        return bool(v)
    if kind == "intValue":
        return int(v)
    if kind == "doubleValue":
        return float(v)
    if kind == "bytesValue":
        return base64.b64decode(v)
    if kind == "arrayValue":
        return [decode_value(x) for x in v.get("values", [])]
    if kind == "kvlistValue":
        return decode_attrs(v.get("values", []))
    raise ValueError(f"unknown AnyValue kind {kind!r}")


def decode_attrs(kvs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {kv["key"]: decode_value(kv.get("value", {})) for kv in kvs or ()}


def iter_requests(
    path: str | os.PathLike[str], *, strict: bool = True, skipped: list[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every request (one per line). ``strict``: raise :class:`CorruptLine` on a bad line,
    else skip it (and note its number in ``skipped`` when given)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                req = json.loads(raw)
                if not isinstance(req, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                if strict:
                    raise CorruptLine(f"{path}:{lineno}: {exc}: {raw[:120]!r}") from None
                if skipped is not None:
                    skipped.append(lineno)
                continue
            yield req


def _scope_name(scope: dict[str, Any] | None) -> str:
    return str((scope or {}).get("name", ""))


def spans_of(req: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rs in req.get("resourceSpans", ()):
        resource = decode_attrs(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", ()):
            scope = _scope_name(ss.get("scope"))
            for s in ss.get("spans", ()):
                flags = int(s.get("flags", 0))
                status = s.get("status") or {}
                yield {
                    "trace_id": s["traceId"],
                    "span_id": s["spanId"],
                    "parent_span_id": s.get("parentSpanId") or None,
                    "parent_is_remote": bool(flags & 0x200) if flags & 0x100 else None,
                    "name": s["name"],
                    "kind": int(s.get("kind", 0)),
                    "start_ns": int(s.get("startTimeUnixNano", 0)),
                    "end_ns": int(s.get("endTimeUnixNano", 0)),
                    "attributes": decode_attrs(s.get("attributes")),
                    "events": [
                        {
                            "name": e["name"],
                            "time_ns": int(e.get("timeUnixNano", 0)),
                            "attributes": decode_attrs(e.get("attributes")),
                        }
                        for e in s.get("events", ())
                    ],
                    "links": [
                        {
                            "trace_id": link["traceId"],
                            "span_id": link["spanId"],
                            "attributes": decode_attrs(link.get("attributes")),
                        }
                        for link in s.get("links", ())
                    ],
                    "status_code": int(status.get("code", 0)),
                    "status_message": status.get("message", ""),
                    "resource": resource,
                    "scope": scope,
                }


def logs_of(req: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rl in req.get("resourceLogs", ()):
        resource = decode_attrs(rl.get("resource", {}).get("attributes"))
        for sl in rl.get("scopeLogs", ()):
            scope = _scope_name(sl.get("scope"))
            for r in sl.get("logRecords", ()):
                yield {
                    "time_ns": int(r.get("timeUnixNano", 0)),
                    "observed_ns": int(r.get("observedTimeUnixNano", 0)),
                    "severity_number": int(r.get("severityNumber", 0)),
                    "severity_text": r.get("severityText", ""),
                    "body": decode_value(r.get("body", {})),
                    "event_name": r.get("eventName", ""),
                    "trace_id": r.get("traceId") or None,
                    "span_id": r.get("spanId") or None,
                    "attributes": decode_attrs(r.get("attributes")),
                    "resource": resource,
                    "scope": scope,
                }


def load_spans(path: str | os.PathLike[str], *, strict: bool = True) -> list[dict[str, Any]]:
    """Every span in the file, in file order."""
    return [s for req in iter_requests(path, strict=strict) for s in spans_of(req)]


def load_logs(path: str | os.PathLike[str], *, strict: bool = True) -> list[dict[str, Any]]:
    """Every log record in the file, in file order."""
    return [r for req in iter_requests(path, strict=strict) for r in logs_of(req)]


def by_id(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index spans by span id (to walk parent links)."""
    return {s["span_id"]: s for s in spans}


def ancestors(span: dict[str, Any], index: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The chain of known parents of ``span``, nearest first."""
    out = []
    while span.get("parent_span_id") in index:
        span = index[span["parent_span_id"]]
        out.append(span)
    return out
