"""Telemetry: every debug event as OpenTelemetry spans, span events and log records.

Runtime and debug code only ever call :mod:`devx.core.events`; the actor lifetime
hook :func:`devx.telemetry.boot.actor_lifetime` decides whether telemetry is on and
installs :mod:`devx.telemetry.backend` behind that API, which writes the telemetry file
(:mod:`devx.telemetry.file_sink`, no SDK) or feeds the OpenTelemetry SDK
(:mod:`devx.telemetry.otel`), loaded off the boot path. Nothing here is imported by
``import devx``, and this package imports nothing heavy at import time, so the hook
stays cheap to load.
"""

from __future__ import annotations

from ..core.public import lazy_getattr

# any submodule (``devx.telemetry.readback.load_spans``) loads on first use
__getattr__ = lazy_getattr(__name__, {})
