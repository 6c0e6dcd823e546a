"""The telemetry layer's hook (:mod:`devx.core.hooks`), registered by the composition
root as ``devx.telemetry.hook:HOOK``: telemetry on for every actor's life
(:mod:`.boot`), and for a process with no actor that opens a crash or REPL
(:mod:`.standalone`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from .boot import actor_lifetime


class TelemetryHook:
    def actor_lifetime(self, actor: Any) -> AbstractAsyncContextManager[None]:
        return actor_lifetime(actor)

    def process_telemetry(self) -> Any:
        from .standalone import ProcessTelemetry

        return ProcessTelemetry()


HOOK = TelemetryHook()
