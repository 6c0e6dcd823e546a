"""The OTLP/JSON encoding of the telemetry file, stdlib only.

One place for what a line of the file looks like, shared by the two writers: the
SDK-free :mod:`devx.telemetry.file_sink` (the default) and the SDK exporters of
:mod:`devx.telemetry.file_exporter` (used when the SDK is loaded anyway). The encoding
is the standard OTLP/JSON one: lowerCamelCase field names, trace/span ids as hex, enums
as integers, 64-bit integers as decimal strings; each line is one complete
``ExportTraceServiceRequest`` or ``ExportLogsServiceRequest``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

# OTLP SpanFlags: bits 0-7 W3C trace flags, bit 8 "is_remote known", bit 9 "is_remote".
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200
SPAN_KIND_INTERNAL = 1
STATUS_ERROR = 2

# OTel SeverityNumber -> its short name (what the SDK writes as severityText)
_SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def severity_text(number: int) -> str:
    """``9`` -> ``"INFO"``, ``10`` -> ``"INFO2"`` ... as the OTel SDK names them."""
    if not 1 <= number <= 24:
        return "UNSPECIFIED"
    base, step = divmod(number - 1, 4)
    return _SEVERITY_NAMES[base] + (str(step + 1) if step else "")


def any_value(value: Any) -> dict[str, Any]:
    """Encode a Python value as an OTLP ``AnyValue`` (JSON mapping)."""
    # subclasses (IntEnum, numpy.float64, a str subclass) are written as their base
    # type: the encoder takes exact types only
    if isinstance(value, bool):
        return {"boolValue": bool(value)}
    if isinstance(value, int):
        return {"intValue": str(int(value))}
    if isinstance(value, float):
        value = float(value)
        if math.isfinite(value):
            return {"doubleValue": value}
        return {
            "doubleValue": "NaN"
            if math.isnan(value)
            else ("Infinity" if value > 0 else "-Infinity")
        }
    if isinstance(value, str):
        return {"stringValue": str.__str__(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(value)).decode("ascii")}
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": key_values(value)}}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


# (key, value) -> its encoded pair, for values of these exact types: the same few
# (an actor's lineage, a context's function) are on every record an actor writes. Not
# ints: most are counters or ids (a context's cid), new on every record, which only
# churned the cache
_PAIR_TYPES = (str, bool)
_PAIRS: dict[tuple[str, Any, type], dict[str, Any]] = {}
_PAIRS_MAX = 4096


def key_values(attrs: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Attributes as OTLP ``KeyValue`` mappings. A pair of a ``str`` key and a
    ``str``/``bool`` value is encoded once and its mapping reused (the writer only
    serializes them): this encoding is most of a record's cost."""
    if not attrs:
        return []
    out = []
    pairs = _PAIRS
    for k, v in attrs.items():
        t = type(v)
        if type(k) is str and t in _PAIR_TYPES:
            key = (k, v, t)
            pair = pairs.get(key)
            if pair is None:
                if len(pairs) >= _PAIRS_MAX:
                    pairs.clear()
                pair = pairs[key] = {"key": k, "value": any_value(v)}
            out.append(pair)
        elif t is int and type(k) is str:
            out.append({"key": k, "value": {"intValue": str(v)}})
        else:
            out.append(
                {"key": str.__str__(k) if isinstance(k, str) else str(k), "value": any_value(v)}
            )
    return out


# the same pairs (and keys, span and event names) as JSON text, for the file sink's
# direct encoding of a span (:func:`key_values_text`)
_PAIR_TEXTS: dict[tuple[str, Any, type], str] = {}
_STR_TEXTS: dict[str, str] = {}


def text(obj: Any) -> str:
    """``obj`` as JSON text, as :func:`dumps_line` writes it inside a line."""
    return msgspec.json.encode(obj).decode()


def str_text(value: str) -> str:
    """A str (a key, a span or event name) as JSON text; the same few recur: cached."""
    out = _STR_TEXTS.get(value)
    if out is None:
        if len(_STR_TEXTS) >= _PAIRS_MAX:
            _STR_TEXTS.clear()
        out = _STR_TEXTS[value] = text(value)
    return out


def key_values_text(attrs: Mapping[str, Any]) -> str | None:
    """The JSON text of :func:`key_values` ``(attrs)``'s items, comma-separated
    (what ``dumps_line`` writes between the list's brackets), for attributes whose keys
    are ``str`` and values exactly ``str``, ``bool`` or ``int``; ``None`` for any
    other (the caller encodes those through :func:`key_values`)."""
    out = []
    texts = _PAIR_TEXTS
    for k, v in attrs.items():
        t = type(v)
        if type(k) is not str:
            return None
        if t is str or t is bool:
            key = (k, v, t)
            pair = texts.get(key)
            if pair is None:
                if len(texts) >= _PAIRS_MAX:
                    texts.clear()
                pair = texts[key] = text({"key": k, "value": any_value(v)})
            out.append(pair)
        elif t is int:
            out.append(f'{{"key":{str_text(k)},"value":{{"intValue":"{v}"}}}}')
        else:
            return None
    return ",".join(out)


def scope(
    name: str, version: str | None, attributes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if version:
        out["version"] = version
    if attributes:
        out["attributes"] = key_values(attributes)
    return out


def dumps_line(request: Mapping[str, Any]) -> bytes:
    """One request as one line of UTF-8 JSON (msgspec: the runtime has it loaded
    already); a str that is not valid Unicode (a lone surrogate) is \\u-escaped, and
    anything else the encoder refuses is written through ``json`` as its ``str``."""
    try:
        return msgspec.json.encode(request) + b"\n"
    except (UnicodeEncodeError, TypeError):  # a lone surrogate; a type we did not expect
        import json

        text = json.dumps(request, separators=(",", ":"), default=str)
        return text.encode("ascii") + b"\n"


def span_record(  # positional too: the file sink's per-span call (keywords cost ~1 us)
    trace_id: int,
    span_id: int,
    trace_state: str | None,
    trace_flags: int,
    parent_span_id: int | None,
    parent_remote: bool,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None,
    shared_attributes: Sequence[dict[str, Any]] = (),
    dropped_attributes: int = 0,
    events: Iterable[tuple[str, Mapping[str, Any] | None, int]] = (),
    dropped_events: int = 0,
    links: list[dict[str, Any]] | None = None,
    dropped_links: int = 0,
    status_code: int = 0,
    status_message: str | None = None,
) -> dict[str, Any]:
    """One OTLP/JSON ``Span``, whichever writer holds it; ``events`` are
    ``(name, attributes, time_ns)``; ``links`` and ``shared_attributes`` (written after
    ``attributes``: the same on many spans, encoded once) are already encoded."""
    out: dict[str, Any] = {"traceId": f"{trace_id:032x}", "spanId": f"{span_id:016x}"}
    if trace_state:
        out["traceState"] = trace_state
    flags = (trace_flags & 0xFF) | HAS_IS_REMOTE
    if parent_span_id is not None:
        out["parentSpanId"] = f"{parent_span_id:016x}"
        if parent_remote:
            flags |= IS_REMOTE
    out["flags"] = flags
    out["name"] = name
    out["kind"] = kind
    out["startTimeUnixNano"] = str(start_ns)
    out["endTimeUnixNano"] = str(end_ns)
    kvs = key_values(attributes)
    if shared_attributes:
        kvs.extend(shared_attributes)
    out["attributes"] = kvs
    if dropped_attributes:
        out["droppedAttributesCount"] = dropped_attributes
    encoded_events = [
        {
            "timeUnixNano": str(ts),
            "name": ev_name,
            "attributes": key_values(ev_attrs) if ev_attrs else [],
        }
        for ev_name, ev_attrs, ts in events
    ]
    if encoded_events:
        out["events"] = encoded_events
    if dropped_events:
        out["droppedEventsCount"] = dropped_events
    if links:
        out["links"] = links
    if dropped_links:
        out["droppedLinksCount"] = dropped_links
    if status_code:
        status: dict[str, Any] = {"code": status_code}
        if status_message:
            status["message"] = status_message
        out["status"] = status
    return out


def link_record(
    *,
    trace_id: int,
    span_id: int,
    trace_state: str | None,
    trace_flags: int,
    remote: bool,
    attributes: Mapping[str, Any] | None,
    dropped_attributes: int = 0,
) -> dict[str, Any]:
    """One OTLP/JSON ``Span.Link``, whichever writer holds it."""
    out: dict[str, Any] = {"traceId": f"{trace_id:032x}", "spanId": f"{span_id:016x}"}
    if trace_state:
        out["traceState"] = trace_state
    out["attributes"] = key_values(attributes)
    if dropped_attributes:
        out["droppedAttributesCount"] = dropped_attributes
    out["flags"] = (trace_flags & 0xFF) | HAS_IS_REMOTE | (IS_REMOTE if remote else 0)
    return out


def log_record(
    *,
    time_ns: int | None,
    observed_ns: int | None,
    severity_number: int | None,
    severity_text: str | None,
    body: Any,
    attributes: Mapping[str, Any] | None,
    dropped_attributes: int = 0,
    trace_id: int | None = None,
    span_id: int | None = None,
    trace_flags: int = 0,
    event_name: str | None = None,
) -> dict[str, Any]:
    """One OTLP/JSON ``LogRecord``, whichever writer holds it."""
    out: dict[str, Any] = {}
    if time_ns:
        out["timeUnixNano"] = str(time_ns)
    if observed_ns:
        out["observedTimeUnixNano"] = str(observed_ns)
    if severity_number is not None:
        out["severityNumber"] = severity_number
    if severity_text:
        out["severityText"] = severity_text
    if body is not None:
        out["body"] = any_value(body)
    out["attributes"] = key_values(attributes)
    if dropped_attributes:
        out["droppedAttributesCount"] = dropped_attributes
    if trace_id:
        out["traceId"] = f"{trace_id:032x}"
        out["spanId"] = f"{span_id or 0:016x}"
        out["flags"] = trace_flags & 0xFF
    if event_name:
        out["eventName"] = event_name
    return out
