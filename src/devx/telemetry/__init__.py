"""Telemetry: every debug event as OpenTelemetry spans, span events and log records.

Runtime and debug code only ever call :mod:`devx.telemetry.events`; the actor lifetime
hook :func:`devx.telemetry.boot.actor_lifetime` decides whether telemetry is on and wires
the OpenTelemetry SDK in behind that API. Nothing here is imported by ``import devx``,
and this package imports nothing at import time, so the hook stays cheap to load.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# submodules reachable as attributes without importing them first
# (``devx.telemetry.readback.load_spans``); each loads on first use
_SUBMODULES = {
    "backend",
    "boot",
    "config",
    "events",
    "file_exporter",
    "logs",
    "otel",
    "readback",
    "schema",
    "standalone",
    "timeline",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'devx.telemetry' has no attribute {name!r}")
