"""Helpers for the telemetry tests: fake actors and in-memory SDK sinks."""

from __future__ import annotations

import os
import subprocess
import uuid
from types import SimpleNamespace
from typing import Any

from devx.core import events, schema
from devx.runtime.msgs import ActorID, Lineage, RuntimeConfig
from devx.telemetry import backend


def clean_env(**extra: str) -> dict[str, str]:
    """conftest's :func:`clean_env` (imported when called: scripts that import this
    module in a process of their own have no conftest)."""
    from conftest import clean_env as the_one

    return the_one(**extra)


def run_clean(args: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
    """Run ``args`` with no terminal, in :func:`clean_env` plus ``env``."""
    return subprocess.run(
        args,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def fake_actor(
    name: str = "root",
    *,
    root: ActorID | None = None,
    parent: ActorID | None = None,
    path: str | None = None,
    carrier: dict[str, str] | None = None,
    telemetry: str | None = None,
    loglevel: str | None = None,
) -> Any:
    """An object with what ``actor_lifetime`` reads from a real ``Actor``."""
    uid = ActorID(name, uuid.uuid4().hex)
    root = root or uid
    lineage = Lineage(
        uid=uid,
        parent_uid=parent,
        root_uid=root,
        path=path or name,
        pid=os.getpid(),
        parent_pid=os.getppid(),
    )
    return SimpleNamespace(
        lineage=lineage,
        uid=uid,
        name=name,
        path=lineage.path,
        pid=lineage.pid,
        is_root=parent is None,
        config=RuntimeConfig(telemetry=telemetry, loglevel=loglevel),
        spawn_carrier=carrier or {},
    )


class Memory:
    """An in-memory SDK sink plus its exporters, for asserting on exact SDK objects."""

    def __init__(self, actor: Any, *, set_global: bool = False) -> None:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        from devx.telemetry import _logs_sdk, otel

        self.spans = InMemorySpanExporter()
        self.logs = _logs_sdk.InMemoryLogRecordExporter()
        lineage = schema.lineage_attrs(actor.lineage)
        self.lineage = lineage
        self.sink = otel.OtelSink(
            resource_attrs={
                **lineage,
                "service.instance.id": actor.lineage.uid.uuid,
                "service.name": actor.lineage.root_uid.name,
            },
            lineage=lineage,
            span_exporters=[("memory", self.spans)],
            log_exporters=[("memory", self.logs)],
            batch=False,
            set_global=set_global,
        )

    def factory(self) -> Any:
        return self.sink

    def finished(self, name: str | None = None) -> list[Any]:
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    def records(self, event_name: str | None = None) -> list[Any]:
        out = []
        for item in self.logs.get_finished_logs():
            rec = item.log_record
            if event_name is None or rec.event_name == event_name:
                out.append(rec)
        return out


def front_with_memory(
    actor: Any | None = None, *, set_global: bool = False
) -> tuple[backend.TelemetryBackend, Memory, events.Backend]:
    """A TelemetryBackend over an in-memory sink, installed; not loaded yet."""
    actor = actor or fake_actor()
    mem = Memory(actor, set_global=set_global)
    front = backend.TelemetryBackend(mem.factory, log_attrs=mem.lineage)
    prev = events.install(front)
    return front, mem, prev
