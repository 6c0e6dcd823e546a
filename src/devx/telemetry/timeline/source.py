"""Finding a telemetry file and reading its traces: records as plain dicts, grouped
per trace, turned into time-ordered points."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...core import schema
from ...core.own_files import own_regular_files
from .. import readback
from ..config import SUFFIX, tmp_dir

Record = dict[str, Any]

FILE_GLOB_SUFFIX = SUFFIX

_EXC_EVENTS = (schema.CRASH, schema.REMOTE_ERROR, schema.CANCELLED)


class TimelineError(Exception):
    """Nothing to show: no devx trace in the file, or no trace matches ``--trace``."""


# --- finding and loading the file ----------------------------------------------------


def telemetry_dir(env: Mapping[str, str] = os.environ) -> str:
    """Where trees write their telemetry by default (see ``config.default_file``)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tmp_dir(env), f"devx-telemetry-{uid}")


def newest_file(directory: str | None = None) -> str | None:
    """The most recently written ``*.otlp.jsonl`` of this user in ``directory``
    (default: the default telemetry dir), or ``None``: the tree a user just ran. Only
    regular files this user owns count (not a symlink, not another user's file in a
    shared directory)."""
    directory = directory or telemetry_dir()
    best: tuple[float, str] | None = None
    for _, full, st in own_regular_files(directory, lambda n: n.endswith(FILE_GLOB_SUFFIX)):
        if best is None or st.st_mtime > best[0]:
            best = (st.st_mtime, full)
    return best[1] if best else None


def file_with_trace(trace: str, directory: str | None = None) -> str | None:
    """The most recently written ``*.otlp.jsonl`` of this user in ``directory`` that
    holds a trace whose id starts with ``trace`` (hex), or ``None``: the file of the
    other tree a cross-tree call's link names (``devx timeline --trace ID``)."""
    prefix = trace.strip().lower()
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        return None
    needle = f'"traceId":"{prefix}'.encode()
    directory = directory or telemetry_dir()
    found = own_regular_files(directory, lambda n: n.endswith(FILE_GLOB_SUFFIX))
    for _, full, _st in sorted(found, key=lambda f: f[2].st_mtime, reverse=True):
        try:
            with open(full, "rb") as f:
                if needle in f.read():
                    return full
        except OSError:
            continue
    return None


@dataclass
class Loaded:
    spans: list[Record]
    logs: list[Record]
    bad_lines: int  # torn or interleaved lines skipped


def load(path: str | os.PathLike[str]) -> Loaded:
    """Spans and log records of the file in one pass, skipping (and counting) lines
    that do not parse: the last one is torn while a tree is still writing."""
    spans: list[Record] = []
    logs: list[Record] = []
    skipped: list[int] = []
    for req in readback.iter_requests(path, strict=False, skipped=skipped):
        try:  # valid JSON, but not a well-formed request (two writes interleaved)
            got_spans = list(readback.spans_of(req))
            got_logs = list(readback.logs_of(req))
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped.append(-1)
            continue
        spans += got_spans
        logs += got_logs
    return Loaded(spans, logs, len(skipped))


# --- one trace -----------------------------------------------------------------------


@dataclass
class Point:
    """A point event: a log record, or a span event that has no log record twin."""

    name: str
    time_ns: int
    path: str
    pid: int | None
    attrs: dict[str, Any]
    body: str = ""
    severity: int = 0
    root_uid: str = ""  # the tree the record's actor belongs to


@dataclass
class Trace:
    trace_id: str
    spans: list[Record] = field(default_factory=list)
    logs: list[Record] = field(default_factory=list)
    first_seen: int = 0  # position in the file, to break ties

    @property
    def trees(self) -> list[Record]:
        return sorted(
            (s for s in self.spans if s["name"] == schema.TREE_SPAN), key=lambda s: s["start_ns"]
        )

    def named(self, name: str) -> list[Record]:
        return sorted((s for s in self.spans if s["name"] == name), key=lambda s: s["start_ns"])

    @property
    def start_ns(self) -> int:
        trees = self.trees
        if trees:
            return int(trees[0]["start_ns"])
        times = [s["start_ns"] for s in self.spans] + [r["time_ns"] for r in self.logs]
        return min((t for t in times if t), default=0)

    @property
    def end_ns(self) -> int:
        times = [s["end_ns"] for s in self.spans] + [r["time_ns"] for r in self.logs]
        return max(times, default=0)

    @property
    def root_path(self) -> str:
        trees = self.trees
        if trees:
            attrs = trees[0]["attributes"]
            return str(attrs.get(schema.TREE_ROOT) or attrs.get("devx.actor.path") or "?")
        paths = [path_of(s["attributes"], s["resource"]) for s in self.spans] + [
            path_of(r["attributes"], r["resource"]) for r in self.logs
        ]
        known = [p for p in paths if p]
        return min(known, key=lambda p: (p.count("/"), p), default="?")


def _is_devx(name: str) -> bool:
    return name.startswith("devx.")


def traces_of(loaded: Loaded) -> list[Trace]:
    """The devx traces of the file (those with a ``devx.*`` span or record), oldest
    tree first."""
    found: dict[str, Trace] = {}
    for kind, recs in (("spans", loaded.spans), ("logs", loaded.logs)):
        for rec in recs:
            tid = rec.get("trace_id")
            if not tid:
                continue
            if tid not in found:
                found[tid] = Trace(tid, first_seen=len(found))
            getattr(found[tid], kind).append(rec)
    devx = [
        t
        for t in found.values()
        if any(_is_devx(s["name"]) for s in t.spans)
        or any(_is_devx(r["event_name"]) for r in t.logs)
    ]
    return sorted(devx, key=lambda t: (t.start_ns, t.first_seen))


def pick(traces: list[Trace], trace_id: str | None) -> Trace:
    """The trace ``trace_id`` names (a unique prefix is enough), else the last one."""
    if not traces:
        raise TimelineError("no devx trace in this file")
    if trace_id is None:
        return traces[-1]
    want = trace_id.strip().lower()
    hits = [t for t in traces if t.trace_id.lower().startswith(want)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{t.trace_id[:8]} ({t.root_path!r})" for t in traces)
    if not hits:
        raise TimelineError(f"no trace {trace_id!r} in this file; it holds {known}")
    raise TimelineError(f"{trace_id!r} matches {len(hits)} traces; give more of it: {known}")


def path_of(attrs: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> str:
    path = attrs.get("devx.actor.path") or (resource or {}).get("devx.actor.path") or ""
    return str(path)


def pid_of(attrs: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> int | None:
    pid = attrs.get("process.pid", (resource or {}).get("process.pid"))
    return int_or_none(pid)


def root_of(attrs: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> str:
    """The uid of the root of the actor's tree: hold ids are minted per root."""
    uid = attrs.get("devx.actor.root_uid") or (resource or {}).get("devx.actor.root_uid")
    return str(uid or "")


def int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def points(trace: Trace) -> list[Point]:
    """Every point event of the trace in time order: the log records, plus the span
    events no log record duplicates (a span's ``exception`` events only when the trace
    has no error records at all, since they are the same crash seen twice)."""
    out: list[Point] = []
    seen: set[tuple[str, int]] = set()
    for r in trace.logs:
        name = r["event_name"] or ""
        seen.add((name, r["time_ns"]))
        body = r["body"] if isinstance(r["body"], str) else json.dumps(r["body"], default=str)
        out.append(
            Point(
                name,
                r["time_ns"],
                path_of(r["attributes"], r["resource"]),
                pid_of(r["attributes"], r["resource"]),
                r["attributes"],
                body or "",
                r["severity_number"],
                root_of(r["attributes"], r["resource"]),
            )
        )
    has_errors = any(p.name in _EXC_EVENTS for p in out)
    for s in trace.spans:
        for e in s["events"]:
            name = e["name"]
            if (name, e["time_ns"]) in seen:
                continue
            attrs = e["attributes"]
            if name == "exception":
                if has_errors:
                    continue
                name = schema.REMOTE_ERROR if schema.REMOTE_TYPE in attrs else schema.CRASH
            elif not _is_devx(name):
                continue
            out.append(
                Point(
                    name,
                    e["time_ns"],
                    path_of(attrs) or path_of(s["attributes"], s["resource"]),
                    pid_of(attrs) or pid_of(s["attributes"], s["resource"]),
                    attrs,
                    root_uid=root_of(attrs) or root_of(s["attributes"], s["resource"]),
                )
            )
    out.sort(key=lambda p: p.time_ns)
    return out
