"""The one place that imports the OpenTelemetry *logs* SDK.

It still lives under the private ``opentelemetry.sdk._logs`` and its names moved between
releases (``LogExporter`` -> ``LogRecordExporter``, ``LogData`` -> ``ReadableLogRecord``),
so every other module goes through these aliases and helpers.
"""

from __future__ import annotations

from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk import _logs as _sdk_logs
from opentelemetry.sdk._logs import export as _sdk_export

LoggerProvider = _sdk_logs.LoggerProvider
LoggingHandler = _sdk_logs.LoggingHandler
BatchLogRecordProcessor = _sdk_export.BatchLogRecordProcessor
SimpleLogRecordProcessor = _sdk_export.SimpleLogRecordProcessor
LogRecordExporter: Any = getattr(_sdk_export, "LogRecordExporter", None) or _sdk_export.LogExporter
LogRecordExportResult: Any = (
    getattr(_sdk_export, "LogRecordExportResult", None) or _sdk_export.LogExportResult
)
InMemoryLogRecordExporter: Any = (
    getattr(_sdk_export, "InMemoryLogRecordExporter", None) or _sdk_export.InMemoryLogExporter
)

__all__ = [
    "BatchLogRecordProcessor",
    "InMemoryLogRecordExporter",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LoggerProvider",
    "LoggingHandler",
    "SeverityNumber",
    "SimpleLogRecordProcessor",
    "record_parts",
]


def record_parts(item: Any) -> tuple[Any, Any, Any]:
    """``(log_record, resource, instrumentation_scope)`` of an exported batch item,
    whether it is a ``ReadableLogRecord`` (new) or a ``LogData`` (old)."""
    record = item.log_record
    resource = getattr(item, "resource", None) or getattr(record, "resource", None)
    return record, resource, getattr(item, "instrumentation_scope", None)
