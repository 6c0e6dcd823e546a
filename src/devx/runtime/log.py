"""Plain stdlib logging for the runtime (``devx.*`` loggers), written through the
console gate (:mod:`devx.runtime.console`: held back while a REPL is live). On a
terminal one readable line per record, headed by the actor's tree path and pid; JSON
lines when stderr is not a terminal or ``DEVX_LOG_FORMAT=json``. The telemetry layer
may replace the handler with its structlog one: the same two forms, the same keys
(one JSON line shape, telemetry on or off: full lineage, microsecond UTC time)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from ..core.levels import level_number, name_levels
from . import console

name_levels()  # records of the peer's levels show their names (`cancel`)

_HANDLER_FLAG = "_devx_runtime_handler"
# the level the program asked for with devx.log.get_console_log (the peer's habit):
# kept when an actor boots without a loglevel
_requested: int | None = None


def request_level(level: int) -> None:
    global _requested
    _requested = level


def requested_level() -> int | None:
    return _requested


def setup(loglevel: str | None, lineage: Mapping[str, Any]) -> None:
    """Give the ``devx`` logger one stderr handler (errors are always shown; more
    with ``loglevel``, else the level asked for by ``devx.log.get_console_log``),
    unless the application configured its own. ``lineage``: the actor's lineage
    attributes (``devx.core.schema.lineage_attrs``)."""
    logger = logging.getLogger("devx")
    if loglevel or _requested is None:
        level = level_number(loglevel or "WARNING")  # (the root checked the name)
    else:
        level = _requested
    logger.setLevel(level)
    ensure_handler(lineage)


def ensure_handler(lineage: Mapping[str, Any]) -> None:
    """The runtime's stderr handler on the ``devx`` logger (its formatter renewed for
    ``lineage``), unless the application (or the telemetry) put one there."""
    logger = logging.getLogger("devx")
    for h in logger.handlers:
        if getattr(h, _HANDLER_FLAG, False):
            h.setFormatter(formatter(lineage))
            return
    if logger.handlers:
        return
    handler = logging.StreamHandler(console.stream("stderr"))
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(formatter(lineage))
    logger.addHandler(handler)
    logger.propagate = False


def formatter(lineage: Mapping[str, Any]) -> logging.Formatter:
    """The runtime's form of a record: JSON, or one line headed by the actor's path."""
    if console.log_format() == "json":
        return JsonFormatter(lineage)
    path, pid = lineage.get("devx.actor.path"), lineage.get("process.pid", os.getpid())
    head = f"[devx {path} pid {pid}]" if path else f"[devx pid {pid}]"
    return logging.Formatter(f"{head} %(levelname)s %(name)s: %(message)s")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, the same as structlog's JSON lines (keys, order,
    ISO UTC time to the microsecond): ``event``, ``level``, ``logger``,
    ``timestamp``, ``trace_id``/``span_id`` when the telemetry stamped the record,
    the actor's lineage, ``exception`` when there is one."""

    def __init__(self, lineage: Mapping[str, Any]) -> None:
        super().__init__()
        self.lineage = dict(lineage)

    def format(self, record: logging.LogRecord) -> str:
        import json

        tid = getattr(record, "devx_trace_id", None)
        sid = getattr(record, "devx_span_id", None)
        doc: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.created % 1 * 1e6):06d}Z",
        }
        if tid:
            doc["trace_id"], doc["span_id"] = tid, sid
        for k, v in self.lineage.items():
            doc.setdefault(k, v)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class RateLimited:
    """At most ``burst`` lines per ``window`` seconds from one source of noise (e.g.
    rejected connections: a flood of them must not flood the terminal); what was
    left out is counted and said with the next line that goes out."""

    def __init__(self, logger: logging.Logger, *, burst: int = 10, window: float = 10.0):
        self.logger = logger
        self.burst = burst
        self.window = window
        self._start = 0.0
        self._sent = 0
        self.suppressed = 0

    def error(self, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._start >= self.window:
            self._start, self._sent = now, 0
        if self._sent >= self.burst:
            self.suppressed += 1
            return
        self._sent += 1
        if self.suppressed:
            msg += f" ({self.suppressed} similar lines left out in the last {self.window:g}s)"
            self.suppressed = 0
        self.logger.error(msg, *args)
