"""Plain stdlib logging for the runtime (``devx.*`` loggers), written through the
console gate (:mod:`devx.runtime.console`: held back while a REPL is live). On a
terminal one readable line per record, headed by the actor's tree path and pid; JSON
lines when stderr is not a terminal or ``DEVX_LOG_FORMAT=json``. The telemetry layer
may replace the handler with its structlog one (same two forms)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from . import console

_HANDLER_FLAG = "_devx_runtime_handler"


def setup(loglevel: str | None, actor_path: str) -> None:
    """Give the ``devx`` logger one stderr handler (errors are always shown; more
    with ``loglevel``), unless the application configured its own."""
    logger = logging.getLogger("devx")
    level = getattr(logging, (loglevel or "WARNING").upper(), logging.WARNING)
    logger.setLevel(level)
    for h in logger.handlers:
        if getattr(h, _HANDLER_FLAG, False):
            h.setFormatter(_formatter(actor_path))
            return
    if logger.handlers:
        return
    handler = logging.StreamHandler(console.stream("stderr"))
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(_formatter(actor_path))
    logger.addHandler(handler)
    logger.propagate = False


def _formatter(actor_path: str) -> logging.Formatter:
    if console.log_format() == "json":
        return JsonFormatter({"devx.actor.path": actor_path, "process.pid": os.getpid()})
    return logging.Formatter(
        f"[devx {actor_path} pid {os.getpid()}] %(levelname)s %(name)s: %(message)s"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``event``, ``level``, ``logger``, ``timestamp``
    (UTC, ISO 8601), ``exception`` when there is one, and the ``extra`` fields."""

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__()
        self.extra = extra

    def format(self, record: logging.LogRecord) -> str:
        import json

        doc: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
        }
        for k, v in self.extra.items():
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
