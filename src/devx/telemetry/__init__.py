"""Telemetry: every debug event as OpenTelemetry spans, span events and log records.

Runtime and debug code only ever call :mod:`devx.telemetry.events`; the actor lifetime
hook :func:`devx.telemetry.boot.actor_lifetime` decides whether telemetry is on and wires
the OpenTelemetry SDK in behind that API. Nothing here is imported by ``import devx``,
and this package imports nothing at import time, so the hook stays cheap to load.
"""

from __future__ import annotations
