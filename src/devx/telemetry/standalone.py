"""Telemetry for a process with no actor runtime: a sync CLI that crashes under
``open_crash_handler`` before (or without) ``trio.run()``, or a
``pause_from_sync(allow_no_runtime=True)``.

Such a process is a one-actor "tree" of its own: the same telemetry session an
actor opens at boot (:class:`devx.telemetry.boot.Session`, the same settings,
exporters and file), for a stand-in actor named after the script, opened just for
the crash or REPL and closed (flushed) right after it. So the debugging session of
a sync CLI is recorded exactly like one inside a tree.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

from ..core import events
from ..runtime.msgs import ActorID, Lineage, RuntimeConfig

log = logging.getLogger("devx.telemetry")


class ProcessActor:
    """What the telemetry session reads off an actor, for a process that has none."""

    is_root = True
    spawn_carrier = None

    def __init__(self, name: str) -> None:
        uid = ActorID(name, uuid.uuid4().hex)
        self.name = name
        self.lineage = Lineage(
            uid=uid,
            parent_uid=None,
            root_uid=uid,
            path=name,
            pid=os.getpid(),
            parent_pid=os.getppid(),
        )
        self.config = RuntimeConfig(debug_mode=True)

    def lineage_attrs(self) -> dict[str, str | int]:
        from ..core.schema import lineage_attrs

        return lineage_attrs(self.lineage)


def script_name() -> str:
    """The name a runtime-less process goes by: its script's (``click_app``), else
    the interpreter's."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    stem = os.path.splitext(os.path.basename(argv0))[0]
    return stem or "python"


class ProcessTelemetry:
    """Telemetry on for one crash or REPL of a runtime-less process. Does nothing
    when a backend is already installed (a runtime is up, or an outer crash handler
    opened one): events then go where they already go."""

    def __init__(self) -> None:
        self._session = None
        self.actor: ProcessActor | None = None
        if events.enabled():
            return
        from .boot import Session  # the same session every actor opens

        try:
            self.actor = ProcessActor(script_name())
            session = Session(self.actor)
            session.settings.load_delay = 0.0  # short-lived: load the exporters now
            self._session = session.start()
        except Exception as err:  # telemetry must never stand between a user and a REPL
            log.warning("devx telemetry: disabled for this crash: %r", err)
            self._session = None

    def lineage_attrs(self) -> dict[str, str | int]:
        if self.actor is not None:
            return self.actor.lineage_attrs()
        return {"process.pid": os.getpid()}

    def close(self, outcome: str = "ok") -> None:
        """End the spans (the actor's and tree's ``outcome``: ``ok``, ``crashed``) and
        flush (bounded), then put the null backend back."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            session.close(outcome=outcome)
        except Exception as err:
            log.warning("devx telemetry: exit failed: %r", err)
