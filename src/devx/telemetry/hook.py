"""The telemetry layer's hook (:mod:`devx.core.hooks`), registered by the composition
root as ``devx.telemetry.hook:HOOK``: telemetry on for every actor's life
(:mod:`.boot`), and for a process with no actor that opens a crash or REPL
(:mod:`.standalone`). Imported by every actor at boot, so it imports nothing but the
stdlib-only :mod:`.config`: an actor with telemetry and logs off never loads
:mod:`.boot` or a sink."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from . import config


class TelemetryHook:
    def actor_lifetime(self, actor: Any) -> AbstractAsyncContextManager[None] | None:
        lin, cfg = actor.lineage, actor.config
        wanted = config.resolve(
            telemetry=cfg.telemetry,
            loglevel=cfg.loglevel,
            root_name=lin.root_uid.name,
            root_uuid=lin.root_uid.uuid,
        )
        if not wanted.enabled and wanted.log_level is None:
            return None  # what boot.Session would do: nothing to start, nothing to close
        from .boot import actor_lifetime

        return actor_lifetime(actor)

    def children_cancelled(self, actor: Any) -> None:
        """The file writer lingers now, while the actor waits for its children: the
        records of the teardown (each child's exit, then the actor's own end, which
        its exit writes itself) then do not wake it one by one, each wake-up a GIL
        hand-over in the middle of the actor's teardown."""
        from ..core import events

        linger = getattr(events.backend(), "linger", None)
        if linger is not None:
            linger()

    def modules_loaded(self, actor: Any) -> None:
        """A debug tree's child imported its modules after its telemetry started: a
        structlog they import gets its JSON lines now (see :func:`.boot.modules_loaded`)."""
        import sys

        boot = sys.modules.get(__package__ + ".boot")  # not loaded: no telemetry, no logs
        if boot is not None:
            boot.modules_loaded(actor)

    def preload(self) -> None:
        """Telemetry is on by default (the file): what a default actor's boot loads."""
        from . import backend, boot, file_sink  # noqa: F401

    def process_telemetry(self) -> Any:
        from .standalone import ProcessTelemetry

        return ProcessTelemetry()


HOOK = TelemetryHook()
