"""``devx timeline``: one tree's debugging session as plain text, read back from its
telemetry file, for a user with no trace viewer (Jaeger, Docker) at hand.

Who ran (actors), who held the terminal and when (TTY lock), and what went wrong
(crashes, remote errors, stack dumps, exits), with times relative to the tree start.

The TTY-lock section is built from the root's ``devx.tty_lock.granted``/``released``
log records: the root writes them, so they are complete even when a holder was
SIGKILLed before exporting anything. The holder's own ``devx.tty_lock.held`` and
``devx.repl`` spans, when they made it out, add the reason, the wait and the REPL frame.

Pure functions over :mod:`devx.telemetry.readback` dicts, stdlib only (no
OpenTelemetry import): the CLI must work where only the file is.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import readback
from .config import tmp_dir

Record = dict[str, Any]

WIDTH = 100  # what the output aims to fit in
TOL_NS = 50_000_000  # slack when matching one process's record against another's
DEATH_SLACK_NS = 500_000_000  # how long after a release the holder's death still explains it
FILE_GLOB_SUFFIX = ".otlp.jsonl"

_LINEAGE_KEYS = frozenset(
    {
        "devx.actor.name",
        "devx.actor.uid",
        "devx.actor.root_uid",
        "devx.actor.parent_uid",
        "devx.actor.path",
        "process.pid",
        "process.parent_pid",
    }
)
_EXC_EVENTS = ("devx.crash", "devx.remote_error", "devx.cancelled")
_LOCK_EVENTS = ("devx.tty_lock.requested", "devx.tty_lock.granted", "devx.tty_lock.released")
_SEV_WARN = 13


class TimelineError(Exception):
    """Nothing to show: no devx trace in the file, or no trace matches ``--trace``."""


# --- finding and loading the file ----------------------------------------------------


def telemetry_dir(env: Mapping[str, str] = os.environ) -> str:
    """Where trees write their telemetry by default (see ``config.default_file``)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tmp_dir(env), f"devx-telemetry-{uid}")


def newest_file(directory: str | None = None) -> str | None:
    """The most recently written ``*.otlp.jsonl`` in ``directory`` (default: the
    default telemetry dir), or ``None``: the tree a user just ran."""
    directory = directory or telemetry_dir()
    best: tuple[float, str] | None = None
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    for name in names:
        if not name.endswith(FILE_GLOB_SUFFIX):
            continue
        full = os.path.join(directory, name)
        try:
            mtime = os.stat(full).st_mtime
        except OSError:
            continue
        if best is None or mtime > best[0]:
            best = (mtime, full)
    return best[1] if best else None


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
    bad = 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                req = json.loads(raw)
                if not isinstance(req, dict):
                    raise ValueError("not a JSON object")
                got_spans = list(readback.spans_of(req))
                got_logs = list(readback.logs_of(req))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
                continue
            spans += got_spans
            logs += got_logs
    return Loaded(spans, logs, bad)


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


@dataclass
class Trace:
    trace_id: str
    spans: list[Record] = field(default_factory=list)
    logs: list[Record] = field(default_factory=list)
    first_seen: int = 0  # position in the file, to break ties

    @property
    def trees(self) -> list[Record]:
        return sorted(
            (s for s in self.spans if s["name"] == "devx.tree"), key=lambda s: s["start_ns"]
        )

    def named(self, name: str) -> list[Record]:
        return sorted((s for s in self.spans if s["name"] == name), key=lambda s: s["start_ns"])

    @property
    def start_ns(self) -> int:
        trees = self.trees
        if trees:
            return trees[0]["start_ns"]
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
            return str(attrs.get("devx.tree.root") or attrs.get("devx.actor.path") or "?")
        paths = [_path_of(s["attributes"], s["resource"]) for s in self.spans] + [
            _path_of(r["attributes"], r["resource"]) for r in self.logs
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


def _path_of(attrs: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> str:
    path = attrs.get("devx.actor.path") or (resource or {}).get("devx.actor.path") or ""
    return str(path)


def _pid_of(attrs: Mapping[str, Any], resource: Mapping[str, Any] | None = None) -> int | None:
    pid = attrs.get("process.pid", (resource or {}).get("process.pid"))
    return _int(pid)


def _int(value: Any) -> int | None:
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
                _path_of(r["attributes"], r["resource"]),
                _pid_of(r["attributes"], r["resource"]),
                r["attributes"],
                body or "",
                r["severity_number"],
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
                name = "devx.remote_error" if "devx.remote.type" in attrs else "devx.crash"
            elif not _is_devx(name):
                continue
            out.append(
                Point(
                    name,
                    e["time_ns"],
                    _path_of(attrs) or _path_of(s["attributes"], s["resource"]),
                    _pid_of(attrs) or _pid_of(s["attributes"], s["resource"]),
                    attrs,
                )
            )
    out.sort(key=lambda p: p.time_ns)
    return out


# --- actors --------------------------------------------------------------------------


@dataclass
class ActorRow:
    path: str
    pid: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    outcome: str | None = None
    exit_code: int | None = None
    exit_signal: str = ""
    has_span: bool = False


def _exit_text(code: int | None, sig: str) -> str:
    if sig:
        return f"killed by {sig}"
    if code is None:
        return ""
    return f"exit code {code}"


def actors(trace: Trace, pts: list[Point]) -> list[ActorRow]:
    """One row per actor process, from its own ``devx.actor`` span and from what its
    parent recorded (spawn, exit): a SIGKILLed actor never exports its span."""
    rows: list[ActorRow] = []

    def row(path: str, pid: int | None) -> ActorRow:
        for r in rows:
            if r.path == path and (pid is None or r.pid is None or r.pid == pid):
                if r.pid is None:
                    r.pid = pid
                return r
        r = ActorRow(path, pid)
        rows.append(r)
        return r

    for s in trace.named("devx.actor"):
        a = s["attributes"]
        r = row(_path_of(a, s["resource"]) or "?", _pid_of(a, s["resource"]))
        r.has_span = True
        r.start_ns, r.end_ns = s["start_ns"], s["end_ns"]
        r.outcome = a.get("devx.actor.outcome") or ("error" if s["status_code"] == 2 else None)
    for p in pts:
        if p.name not in ("devx.actor.spawn", "devx.actor.exit"):
            continue
        path = str(p.attrs.get("devx.child.path") or "")
        if not path:
            continue
        pid = _int(p.attrs.get("devx.child.pid"))
        r = row(path, pid if pid is not None and pid > 0 else None)
        if p.name == "devx.actor.spawn":
            if r.start_ns is None:
                r.start_ns = p.time_ns
        else:
            r.exit_code = _int(p.attrs.get("exit_code"))
            r.exit_signal = str(p.attrs.get("signal") or "")
            if not r.has_span:
                r.end_ns = p.time_ns
    for tree in trace.trees:  # a root that has only its tree span (or nothing else)
        a = tree["attributes"]
        r = row(str(a.get("devx.tree.root") or _path_of(a) or "?"), _pid_of(a))
        if r.start_ns is None:
            r.start_ns, r.end_ns = tree["start_ns"], tree["end_ns"]
            r.outcome = a.get("devx.tree.outcome")
    # an ancestor with nothing of its own on record (a root that died): its children
    # know its path and pid
    parent_pids: dict[str, int | None] = {}
    for s in trace.named("devx.actor"):
        a = {**s["resource"], **s["attributes"]}
        path = _path_of(a)
        if "/" in path:
            parent_pids.setdefault(path.rsplit("/", 1)[0], _int(a.get("process.parent_pid")))
    for r in list(rows):
        parts = r.path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if not any(x.path == prefix for x in rows):
                row(prefix, parent_pids.get(prefix))
    starts = {r.path: r.start_ns or 0 for r in rows}

    def tree_order(r: ActorRow) -> list[tuple[int, str]]:
        parts = r.path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return [(starts.get(p, 0), p) for p in prefixes]

    return sorted(rows, key=tree_order)


# --- the TTY lock --------------------------------------------------------------------


@dataclass
class Hold:
    """One turn at the terminal (or a request that never got one)."""

    path: str
    pid: int | None
    reason: str
    start_ns: int
    end_ns: int | None
    wait_s: float | None = None
    held_s: float | None = None
    source: str = "grant"  # "grant" (root's record) | "span" | "repl" | "request"
    held_span: Record | None = None
    repl: Record | None = None
    notes: list[str] = field(default_factory=list)


def _holder(p: Point) -> tuple[str, int | None, str]:
    a = p.attrs
    return (
        str(a.get("devx.tty_lock.holder.path") or p.path),
        _int(a.get("devx.tty_lock.holder.pid")),
        str(a.get("devx.tty_lock.reason") or a.get("reason") or "?"),
    )


def _same(pid_a: int | None, pid_b: int | None) -> bool:
    return pid_a is None or pid_b is None or pid_a == pid_b


def _within(t: int, start: int, end: int | None) -> bool:
    return start - TOL_NS <= t and (end is None or t <= end + TOL_NS)


def holds(trace: Trace, pts: list[Point]) -> list[Hold]:
    """Every turn at the terminal, in time order. Overlaps (which the lock should
    make impossible) are kept and marked, never smoothed over."""
    out: list[Hold] = []
    open_grants: list[Hold] = []
    for p in pts:
        if p.name == "devx.tty_lock.granted":
            path, pid, reason = _holder(p)
            h = Hold(path, pid, reason, p.time_ns, None, wait_s=_float(p.attrs.get("wait_s")))
            out.append(h)
            open_grants.append(h)
        elif p.name == "devx.tty_lock.released":
            path, pid, reason = _holder(p)
            for h in open_grants:
                if h.path == path and _same(h.pid, pid) and h.reason == reason:
                    h.end_ns = p.time_ns
                    h.held_s = _float(p.attrs.get("held_s"))
                    open_grants.remove(h)
                    break
    for h in open_grants:
        h.notes.append("no release on record")

    # the holder's own spans: the wait as it saw it, and the REPL frame
    for s in trace.named("devx.tty_lock.held"):
        a = s["attributes"]
        path, pid = _path_of(a, s["resource"]), _pid_of(a, s["resource"])
        h = next(
            (
                h
                for h in out
                if h.source == "grant"
                and h.held_span is None
                and h.path == path
                and _same(h.pid, pid)
                and _within(s["start_ns"], h.start_ns, h.end_ns)
            ),
            None,
        )
        if h is None:
            h = Hold(path, pid, str(a.get("reason") or "?"), s["start_ns"], s["end_ns"])
            h.source = "span"
            h.notes.append("no grant on record")
            out.append(h)
        h.held_span = s
        if a.get("wait_s") is not None:
            h.wait_s = _float(a.get("wait_s"))
        if a.get("devx.span.unfinished"):
            h.notes.append("cut short")
    for s in trace.named("devx.repl"):
        a = s["attributes"]
        path, pid = _path_of(a, s["resource"]), _pid_of(a, s["resource"])
        h = next(
            (
                h
                for h in out
                if h.repl is None
                and h.path == path
                and _same(h.pid, pid)
                and _within(s["start_ns"], h.start_ns, h.end_ns)
            ),
            None,
        )
        if h is None:  # a runtime-less process: its REPL took no tree lock
            h = Hold(path, pid, str(a.get("reason") or "?"), s["start_ns"], s["end_ns"])
            h.source = "repl"
            h.notes.append("no lock record")
            out.append(h)
        h.repl = s

    # a holder that died holding the lock: its parent records the exit, before or just
    # after the root frees the lock (whichever of the two notices first), and the
    # holder never got to export its own span of the hold
    exits = [p for p in pts if p.name == "devx.actor.exit"]
    for h in out:
        for p in exits:
            code, sig = _int(p.attrs.get("exit_code")), str(p.attrs.get("signal") or "")
            late = DEATH_SLACK_NS if h.held_span is None else 0
            if (
                p.attrs.get("devx.child.path") == h.path
                and _same(h.pid, _int(p.attrs.get("devx.child.pid")))
                and h.start_ns <= p.time_ns
                and (h.end_ns is None or p.time_ns <= h.end_ns + late)
                and (sig or code)
            ):
                h.notes.insert(0, f"holder died ({_exit_text(code, sig)})")
                break

    # requests that never got the lock (cancelled waiters, a tree that ended first)
    granted = sorted(out, key=lambda h: h.start_ns)
    used: set[int] = set()
    for p in pts:
        if p.name != "devx.tty_lock.requested":
            continue
        reason = str(p.attrs.get("reason") or "?")
        match = next(
            (
                i
                for i, h in enumerate(granted)
                if i not in used
                and h.path == p.path
                and _same(h.pid, p.pid)
                and h.reason == reason
                and p.time_ns <= h.start_ns + TOL_NS
            ),
            None,
        )
        if match is None:
            out.append(Hold(p.path, p.pid, reason, p.time_ns, None, source="request"))
        else:
            used.add(match)

    out.sort(key=lambda h: h.start_ns)
    last_end: int | None = 0
    for h in out:
        if h.source == "request":
            continue
        if last_end is None:
            h.notes.append("OVERLAPS the previous hold (never released on record)")
        elif h.start_ns < last_end:
            h.notes.append("OVERLAPS the previous hold")
        # an unreleased hold is flagged on the next one only, then the count starts over
        last_end = h.end_ns if h.end_ns is None or last_end is None else max(h.end_ns, last_end)
    return out


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- events --------------------------------------------------------------------------


@dataclass
class EventRow:
    time_ns: int
    path: str
    kind: str
    detail: str
    bad: bool = False  # an error: painted red


def _short_type(name: Any) -> str:
    return str(name or "?").rsplit(".", 1)[-1]


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _exc_text(a: Mapping[str, Any]) -> str:
    msg = _first_line(a.get("exception.message"))
    typ = _short_type(a.get("exception.type"))
    return f"{typ}: {msg}" if msg else typ


def event_rows(pts: list[Point]) -> list[EventRow]:
    """What happened besides the lock: crashes, remote errors, cancellations, stack
    dumps, exits; other devx and user events generically; warnings logged."""
    rows: list[EventRow] = []
    for p in pts:
        a = p.attrs
        if p.name in _LOCK_EVENTS or p.name == "devx.actor.spawn":
            continue  # shown in their own sections
        if p.name == "devx.crash":
            rows.append(EventRow(p.time_ns, p.path, "crash", _exc_text(a), bad=True))
        elif p.name == "devx.remote_error":
            typ = a.get("devx.remote.type") or a.get("devx.error.boxed_type")
            src = a.get("devx.remote.src_path") or a.get("devx.error.src_path")
            if typ:
                detail = f"{_short_type(typ)} from {src or '?'}"
                msg = _first_line(a.get("devx.remote.message"))
                detail += f": {msg}" if msg else ""
            else:
                detail = _exc_text(a)
            cancelled = _short_type(typ or a.get("exception.type")).endswith("Cancelled")
            rows.append(EventRow(p.time_ns, p.path, "remote error", detail, bad=not cancelled))
        elif p.name == "devx.cancelled":
            rows.append(EventRow(p.time_ns, p.path, "cancelled", _exc_text(a)))
        elif p.name == "devx.stack_dump":
            n = _int(a.get("task_count"))
            what = f"{n} tasks" if n is not None and n >= 0 else "thread stacks"
            where = a.get("log_path")
            detail = f"{a.get('signal') or '?'}, {what}" + (f" -> {where}" if where else "")
            rows.append(EventRow(p.time_ns, p.path, "stack dump", detail))
        elif p.name == "devx.actor.exit":
            code, sig = _int(a.get("exit_code")), str(a.get("signal") or "")
            detail = _exit_text(code, sig) or "exit"
            if a.get("cancel_requested") in (True, "True", "true"):
                detail += " (cancel requested)"
            path = str(a.get("devx.child.path") or p.path)
            rows.append(EventRow(p.time_ns, path, "exit", detail, bad=bool(sig or code)))
        elif p.name == "devx.actor.cancel_requested":
            rows.append(EventRow(p.time_ns, p.path, "cancel req", str(a.get("reason") or "")))
        elif p.name:
            rows.append(EventRow(p.time_ns, p.path, p.name, _generic(p)))
        elif p.severity >= _SEV_WARN:
            rows.append(EventRow(p.time_ns, p.path, "log", _first_line(p.body)))
    return rows


def _generic(p: Point) -> str:
    if p.body and p.body != p.name:
        return _first_line(p.body)
    extra = {k: v for k, v in p.attrs.items() if k not in _LINEAGE_KEYS}
    return " ".join(f"{k}={_first_line(v)}" for k, v in extra.items())


# --- rendering -----------------------------------------------------------------------

_BOLD, _RED, _YELLOW, _DIM = "1", "31", "33", "2"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code and text else text


def _rel(t: int | None, t0: int) -> str:
    return "?" if t is None else f"{(t - t0) / 1e9:+.3f}"


def _secs(s: float | None) -> str:
    return "?" if s is None else f"{s:.3f} s"


def _fit(text: str, room: int) -> str:
    """Cut free text to ``room`` columns (paths and times are never cut)."""
    room = max(room, 20)
    return text if len(text) <= room else text[: room - 1] + "…"


def _col(values: Iterable[str], cap: int = 32) -> int:
    return min(max((len(v) for v in values), default=0), cap)


def _repl_text(s: Record) -> str:
    a = s["attributes"]
    where = os.path.basename(str(a.get("code.filepath") or "?"))
    line = a.get("code.lineno")
    func = a.get("code.function")
    text = f"REPL at {where}" + (f":{line}" if line is not None else "")
    return text + (f" in {func}()" if func else "")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _vlen(text: str) -> int:
    """Columns ``text`` takes on screen (colour codes take none)."""
    return len(_ANSI.sub("", text))


def _wrap(head: str, notes: list[str], indent: int) -> list[str]:
    """``head`` then its notes, carried onto lines indented by ``indent`` once a line
    would pass :data:`WIDTH`."""
    lines, line = [], head
    for note in notes:
        if _vlen(line) + 2 + _vlen(note) > WIDTH and line.strip():
            lines.append(line)
            line = " " * indent + note
        elif line.strip():
            line += "  " + note
        else:
            line += note
    lines.append(line)
    return lines


@dataclass
class _Style:
    """What every section's lines share: the time origin and column, and colour."""

    t0: int
    tw: int  # width of a relative time
    color: bool

    def rel(self, t: int | None) -> str:
        return f"{_rel(t, self.t0):>{self.tw}}"

    def paint(self, text: str, code: str) -> str:
        return _paint(text, code, self.color)


def _header(path: str, loaded: Loaded, traces: list[Trace], trace: Trace, st: _Style) -> list[str]:
    trees = trace.trees
    tree = trees[-1] if trees else None
    ta = tree["attributes"] if tree else {}
    debug_mode = ta.get("devx.debug_mode")
    for s in trace.named("devx.actor"):
        if debug_mode is None and s["attributes"].get("devx.actor.is_root"):
            debug_mode = s["attributes"].get("devx.debug_mode")
    bits = [f"tree {trace.root_path!r}"]
    if debug_mode:
        bits.append("debug_mode")
    bits.append("started " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.t0 / 1e9)))
    if tree is not None:
        bits.append(f"{(tree['end_ns'] - tree['start_ns']) / 1e9:.3f} s")
        outcome = str(ta.get("devx.tree.outcome") or "?")
        bits.append("outcome " + st.paint(outcome, _BOLD if outcome in ("ok", "?") else _RED))
    else:
        bits.append(f"{(trace.end_ns - st.t0) / 1e9:.3f} s on record")
    out = [f"trace {trace.trace_id}  (file: {path})", "  ".join(bits)]
    if tree is None:
        out.append(
            st.paint(
                "note: no devx.tree span: the tree is still running, or its root died", _YELLOW
            )
        )
    if len(trees) > 1:
        out.append(f"note: {len(trees)} devx trees share this trace, shown together")
    if loaded.bad_lines:
        out.append(
            f"note: skipped {loaded.bad_lines} unreadable line(s) "
            "(a torn write, or the file is still being written)"
        )
    others = [t for t in traces if t is not trace]
    if others:
        ids = ", ".join(f"{t.trace_id[:8]} ({t.root_path!r})" for t in others[-5:])
        more = "" if len(others) <= 5 else f" and {len(others) - 5} more"
        out.append(f"note: {len(others)} other trace(s) in this file: {ids}{more}; --trace ID")
    return out


def _actor_lines(rows: list[ActorRow], st: _Style) -> list[str]:
    out = [st.paint(f"actors ({len(rows)})", _BOLD)]
    if not rows:
        out.append("  (none on record)")
    pw = _col(r.path for r in rows)
    pidw = _col(str(r.pid) for r in rows if r.pid is not None)
    for r in rows:
        pid = f"pid {r.pid if r.pid is not None else '?':<{pidw}}"
        outcome = r.outcome or "?"
        painted = st.paint(f"{outcome:<9}", _RED if outcome in ("error", "crashed") else "")
        line = f"  {r.path:<{pw}}  {pid}  {st.rel(r.start_ns)} .. {st.rel(r.end_ns)}  {painted}"
        notes = []
        if r.exit_code or r.exit_signal:
            notes.append(st.paint(_exit_text(r.exit_code, r.exit_signal), _RED))
        if not r.has_span:
            notes.append("(no actor span on record)")
        out.extend(_wrap(line.rstrip(), notes, 4))
    return out


def _hold_lines(hs: list[Hold], st: _Style) -> list[str]:
    turns = [h for h in hs if h.source != "request"]
    out = [st.paint(f"TTY lock (who held the terminal): {len(turns)} hold(s)", _BOLD)]
    if not hs:
        out.append("  (nobody took the terminal)")
    pw = _col(h.path for h in hs)
    rw = _col(h.reason for h in hs)
    for h in hs:
        who = f"{h.path:<{pw}}  {h.reason:<{rw}}"
        if h.source == "request":
            never = st.paint("requested, never granted", _YELLOW)
            out.append(f"  {st.rel(h.start_ns)}    {'':{st.tw}}  {who}  {never}")
            continue
        held = h.held_s
        if held is None and h.end_ns is not None:
            held = (h.end_ns - h.start_ns) / 1e9
        notes = [f"held {_secs(held)}"]
        if h.source != "repl":
            notes = [f"waited {_secs(h.wait_s)}  held {_secs(held)}"]
        if h.repl is not None:
            notes.append(_repl_text(h.repl))
        elif h.held_span is not None:
            notes.append("no REPL")
        for n in h.notes:
            warn = n.startswith(("holder died", "OVERLAPS", "no release"))
            notes.append(st.paint(n, _RED if warn else _DIM))
        end = st.rel(h.end_ns) if h.end_ns is not None else f"{'?':>{st.tw}}"
        out.extend(_wrap(f"  {st.rel(h.start_ns)} .. {end}  {who}", notes, 8 + 2 * st.tw))
    return out


def _event_lines(evs: list[EventRow], st: _Style) -> list[str]:
    out = [st.paint(f"events ({len(evs)})", _BOLD)]
    if not evs:
        out.append("  (none on record)")
    pw = _col(e.path for e in evs)
    kw = _col((e.kind for e in evs), cap=14)
    for e in evs:
        head = f"  {st.rel(e.time_ns)}  {e.path:<{pw}}  "
        kind = st.paint(f"{e.kind:<{kw}}", _RED if e.bad else "")
        detail = _fit(e.detail, WIDTH - len(head) - kw - 2)
        out.append(f"{head}{kind}  {detail}".rstrip())
    return out


def render(
    path: str | os.PathLike[str], *, trace_id: str | None = None, color: bool = False
) -> str:
    """The timeline of one trace of the telemetry file at ``path`` (default: its last
    tree). Raises :class:`TimelineError` when there is no devx trace to show (or no
    trace matches ``trace_id``), ``OSError`` when the file cannot be read."""
    loaded = load(path)
    traces = traces_of(loaded)
    trace = pick(traces, trace_id)
    t0 = trace.start_ns
    pts = points(trace)
    times = [t0, trace.end_ns, *(p.time_ns for p in pts)]
    tw = max(len(_rel(min(times), t0)), len(_rel(max(times), t0)))
    st = _Style(t0, tw, color)
    return "\n".join(
        [
            *_header(os.fspath(path), loaded, traces, trace, st),
            *_actor_lines(actors(trace, pts), st),
            *_hold_lines(holds(trace, pts), st),
            *_event_lines(event_rows(pts), st),
        ]
    )
