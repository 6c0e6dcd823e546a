"""Plain stdlib logging for the runtime (``devx.*`` loggers), headed by the actor's
tree path and pid. The telemetry layer may replace the handler with structlog JSON."""

from __future__ import annotations

import logging
import os
import sys

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
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(_formatter(actor_path))
    logger.addHandler(handler)
    logger.propagate = False


def _formatter(actor_path: str) -> logging.Formatter:
    return logging.Formatter(
        f"[devx {actor_path} pid {os.getpid()}] %(levelname)s %(name)s: %(message)s"
    )
