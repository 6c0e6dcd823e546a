"""What the timeline shows, out of one trace's points: actor rows, turns at the
terminal (TTY lock holds) and the events worth a line."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...core import schema
from .source import Point, Record, Trace, int_or_none, path_of, pid_of, root_of

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
# shown in the TTY lock section, not as events
_HOLD_EVENTS = (*schema.LOCK_EVENTS, schema.REPL_REENTERED)
_SEV_WARN = 13

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


def exit_text(code: int | None, sig: str) -> str:
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

    for s in trace.named(schema.ACTOR_SPAN):
        a = s["attributes"]
        r = row(path_of(a, s["resource"]) or "?", pid_of(a, s["resource"]))
        r.has_span = True
        r.start_ns, r.end_ns = s["start_ns"], s["end_ns"]
        outcome = a.get(schema.ACTOR_OUTCOME)
        if s["status_code"] == 2 and outcome in (None, "ok"):
            outcome = "crashed"  # its code raised (a call's error), even if it went on
        r.outcome = outcome
    for p in pts:
        if p.name not in (schema.ACTOR_SPAWN, schema.ACTOR_EXIT):
            continue
        path = str(p.attrs.get(schema.CHILD_PATH) or "")
        if not path:
            continue
        pid = int_or_none(p.attrs.get(schema.CHILD_PID))
        r = row(path, pid if pid is not None and pid > 0 else None)
        if p.name == schema.ACTOR_SPAWN:
            if r.start_ns is None:
                r.start_ns = p.time_ns
        else:
            r.exit_code = int_or_none(p.attrs.get(schema.CHILD_EXIT_CODE))
            r.exit_signal = str(p.attrs.get(schema.CHILD_SIGNAL) or "")
            if not r.has_span:
                r.end_ns = p.time_ns
    for tree in trace.trees:  # a root that has only its tree span (or nothing else)
        a = tree["attributes"]
        r = row(str(a.get(schema.TREE_ROOT) or path_of(a) or "?"), pid_of(a))
        if r.start_ns is None:
            r.start_ns, r.end_ns = tree["start_ns"], tree["end_ns"]
            r.outcome = a.get(schema.TREE_OUTCOME)
    # an actor with no lifetime span yet (its tree still runs or hangs: that span
    # comes at its exit) or ever (SIGKILLed, its root dead): its start span, exported
    # at its boot, has its pid and when it started
    for s in trace.named(schema.ACTOR_START_SPAN):
        a = s["attributes"]
        r = row(path_of(a, s["resource"]) or "?", pid_of(a, s["resource"]))
        if r.start_ns is None:
            r.start_ns = s["start_ns"]
    # an ancestor with nothing of its own on record (a root that died): its children
    # know its path and pid
    parent_pids: dict[str, int | None] = {}
    for s in trace.named(schema.ACTOR_SPAN):
        a = {**s["resource"], **s["attributes"]}
        path = path_of(a)
        if "/" in path:
            parent_pids.setdefault(path.rsplit("/", 1)[0], int_or_none(a.get("process.parent_pid")))
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

HoldKey = tuple[str, int]  # (the root's uid, the hold id it minted)


@dataclass
class Hold:
    """One turn at the terminal (or a request that never got one)."""

    path: str
    pid: int | None
    reason: str
    start_ns: int
    end_ns: int | None
    hold_id: int | None = None
    request_id: str = ""
    wait_s: float | None = None
    held_s: float | None = None
    how: str | None = None  # how it ended (a ``ReleaseHow``); None: not on record
    queued: int | None = None  # requests left waiting behind it at its grant
    source: str = "grant"  # "grant" (root's record) | "span" | "repl" | "request"
    held_span: Record | None = None
    repl: Record | None = None
    reentries: int = 0  # pauses of the holding task inside this hold
    # the holding task crashed inside the hold (reached by stepping, or with no REPL
    # open): its post-mortem is a REPL of its own, a crash's, in the same hold
    crashed: bool = False
    crash_repl: Record | None = None
    # where the holder stopped, from the root's grant (``file.py:12 in fn()``): all
    # a hold shows of its place while its REPL is open, or when its holder died
    where: str = ""
    notes: list[str] = field(default_factory=list)


def _key(root_uid: str, attrs: Mapping[str, Any]) -> HoldKey | None:
    hold_id = int_or_none(attrs.get(schema.HOLD_ID))
    return (root_uid, hold_id) if hold_id else None


def _reason(attrs: Mapping[str, Any]) -> str:
    return str(attrs.get(schema.REASON) or "?")


def _is_crash(attrs: Mapping[str, Any]) -> bool:
    return attrs.get(schema.REASON) == schema.HOLD_CRASH


def crash_text(h: Hold) -> str:
    """``then crashed: REPL at demo.py:9 in share()`` for a hold whose task crashed
    inside it after its first REPL; empty for any other hold (one whose only REPL is
    the crash's says so in :func:`hold_repl_text`)."""
    if h.crash_repl is not None:
        return f"then crashed: {repl_text(h.crash_repl)}"
    if not h.crashed or (h.repl is not None and _is_crash(h.repl["attributes"])):
        return ""
    return "then crashed"


def hold_repl_text(h: Hold) -> str:
    """The hold's (first) REPL, ``crashed: REPL at ...`` when it is a crash's in a hold
    taken for something else (the terminal held with no REPL, then a crash)."""
    if h.repl is None:
        return ""
    text = repl_text(h.repl)
    crash_only = _is_crash(h.repl["attributes"]) and h.reason != schema.HOLD_CRASH
    return f"crashed: {text}" if crash_only else text


def _how(attrs: Mapping[str, Any]) -> str | None:
    how = attrs.get(schema.RELEASE_HOW)
    return str(how) if how else None


def repl_text(s: Record) -> str:
    """Where a REPL stood: ``REPL at demo.py:12 in work()``."""
    a = s["attributes"]
    where = os.path.basename(str(a.get(schema.CODE_FILE_PATH) or "?"))
    line = a.get(schema.CODE_LINE_NUMBER)
    func = a.get(schema.CODE_FUNCTION_NAME)
    text = f"REPL at {where}" + (f":{line}" if line is not None else "")
    return text + (f" in {func}()" if func else "")


def how_text(how: str) -> str:
    """A ``ReleaseHow`` for people: ``stepped_out`` -> ``stepped out``."""
    return how.replace("_", " ")


def _from_span(s: Record, source: str) -> Hold:
    a = s["attributes"]
    return Hold(
        path_of(a, s["resource"]) or "?",
        pid_of(a, s["resource"]),
        _reason(a),
        s["start_ns"],
        s["end_ns"],
        hold_id=int_or_none(a.get(schema.HOLD_ID)) or None,
        request_id=str(a.get(schema.REQUEST_ID) or ""),
        wait_s=_float(a.get(schema.WAIT_S)),
        how=_how(a),
        source=source,
    )


def holds(trace: Trace, pts: list[Point]) -> list[Hold]:
    """Every turn at the terminal in time order, joined by hold id: the root's grant
    and release records (complete even when a holder was SIGKILLed before exporting
    anything), then the holder's own lock and REPL spans and its re-entries; lock
    requests that no hold answers are listed at their own time. Overlaps (which the
    lock should make impossible) are kept and marked, never smoothed over."""
    by_key: dict[HoldKey, Hold] = {}
    for p in pts:
        if p.name not in (schema.LOCK_GRANTED, schema.LOCK_RELEASED):
            continue
        a = p.attrs
        key = _key(p.root_uid, a)
        if key is None:
            continue  # an older devx's record: see unjoinable()
        h = by_key.get(key)
        if p.name == schema.LOCK_GRANTED:
            if h is None:
                by_key[key] = Hold(
                    str(a.get(schema.HOLDER_PATH) or p.path),
                    int_or_none(a.get(schema.HOLDER_PID)),
                    _reason(a),
                    p.time_ns,
                    None,
                    hold_id=key[1],
                    request_id=str(a.get(schema.REQUEST_ID) or ""),
                    wait_s=_float(a.get(schema.WAIT_S)),
                    queued=int_or_none(a.get(schema.QUEUED)),
                    where=str(a.get(schema.HOLDER_WHERE) or ""),
                )
        elif h is not None and h.how is None:  # (no grant on record: the root writes both)
            h.end_ns = p.time_ns
            h.held_s = _float(a.get(schema.HELD_S))
            h.how = _how(a) or "?"

    # the holder's side: its span of the hold, its REPL, its re-entries
    out = list(by_key.values())
    for name in (schema.LOCK_HELD_SPAN, schema.REPL_SPAN):
        for s in trace.named(name):
            a = s["attributes"]
            key = _key(root_of(a, s["resource"]), a)
            h = by_key.get(key) if key is not None else None
            if h is None:
                if key is None and name == schema.LOCK_HELD_SPAN:
                    continue  # an older devx's span: see unjoinable()
                h = _from_span(s, "span" if name == schema.LOCK_HELD_SPAN else "repl")
                # with an id, the root's records are lost (it died before exporting
                # them); without, a runtime-less process: its REPL took no tree lock
                h.notes.append("no grant on record" if key else "no lock record")
                out.append(h)
                if key is not None:
                    by_key[key] = h
            if name == schema.REPL_SPAN:
                if h.repl is None:
                    h.repl = s
                elif h.crash_repl is None and _is_crash(a) and not _is_crash(h.repl["attributes"]):
                    h.crash_repl = s
                continue
            if h.held_span is not None:
                continue
            h.held_span = s
            if h.wait_s is None:
                h.wait_s = _float(a.get(schema.WAIT_S))
            said = _how(a)
            if said and h.how and said != h.how and h.how != "holder_lost":
                h.notes.append(f"the holder says {how_text(said)}")
            if a.get("devx.span.unfinished"):
                h.notes.append("cut short")
    for p in pts:
        if p.name == schema.REPL_REENTERED:
            key = _key(p.root_uid, p.attrs)
            if key is not None and key in by_key:
                h = by_key[key]
                if _is_crash(p.attrs) and h.reason != schema.HOLD_CRASH:
                    h.crashed = True  # not a re-entry: the hold's second, crash REPL
                else:
                    h.reentries += 1

    # a holder gone with its hold: how it died, from its parent's exit record (a
    # process exits once, so its path and pid name the one exit that matters)
    exits = [p for p in pts if p.name == schema.ACTOR_EXIT]
    for h in out:
        if h.how is None and h.source == "grant":
            h.notes.append("no release on record (still held, or its end was lost)")
        if h.how not in (None, "holder_lost"):
            continue
        for p in exits:
            code, sig = (
                int_or_none(p.attrs.get(schema.CHILD_EXIT_CODE)),
                str(p.attrs.get(schema.CHILD_SIGNAL) or ""),
            )
            if (
                p.attrs.get(schema.CHILD_PATH) == h.path
                and _same(h.pid, int_or_none(p.attrs.get(schema.CHILD_PID)))
                and (sig or code)
            ):
                h.notes.insert(0, f"holder died ({exit_text(code, sig)})")
                break

    # requests that no hold answers: cancelled waiters, a tree that ended first
    answered = {h.request_id for h in out if h.request_id}
    for p in pts:
        rid = str(p.attrs.get(schema.REQUEST_ID) or "")
        if p.name == schema.LOCK_REQUESTED and rid and rid not in answered:
            answered.add(rid)
            out.append(Hold(p.path, p.pid, _reason(p.attrs), p.time_ns, None, source="request"))

    out.sort(key=lambda h: (h.start_ns, h.hold_id or 0))
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


def unjoinable(trace: Trace, pts: list[Point]) -> int:
    """TTY lock records and spans without the ids that join them (an older devx
    wrote them): :func:`holds` leaves them out."""
    ids = {
        schema.LOCK_REQUESTED: schema.REQUEST_ID,
        schema.LOCK_GRANTED: schema.HOLD_ID,
        schema.LOCK_RELEASED: schema.HOLD_ID,
    }
    n = sum(1 for p in pts if p.name in ids and not p.attrs.get(ids[p.name]))
    return n + sum(
        1 for s in trace.named(schema.LOCK_HELD_SPAN) if not s["attributes"].get(schema.HOLD_ID)
    )


def _same(pid_a: int | None, pid_b: int | None) -> bool:
    return pid_a is None or pid_b is None or pid_a == pid_b


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
    more: list[str] = field(default_factory=list)  # lines shown under it (a crash's locals)
    pid: int | None = None  # whose: told apart when two actors had the path (a restart)


def _short_type(name: Any) -> str:
    return str(name or "?").rsplit(".", 1)[-1]


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _exc_text(a: Mapping[str, Any]) -> str:
    msg = _first_line(a.get("exception.message"))
    typ = _short_type(a.get("exception.type"))
    return f"{typ}: {msg}" if msg else typ


def locals_lines(a: Mapping[str, Any]) -> list[str]:
    """``name = repr`` per local of a crash record's ``devx.crash.locals``."""
    raw = a.get(schema.CRASH_LOCALS)
    if not raw:
        return []
    try:
        found = json.loads(str(raw))
    except ValueError:
        return []
    if not isinstance(found, dict):
        return []
    return [f"{k} = {v}" for k, v in found.items()]


def event_rows(pts: list[Point]) -> list[EventRow]:
    """What happened besides the lock: crashes, remote errors, cancellations, stack
    dumps, exits; other devx and user events generically; warnings logged. Each
    row carries the pid of the actor it is about (an exit: the child's)."""
    rows: list[EventRow] = []
    for p in pts:
        before = len(rows)
        _point_rows(p, rows)
        for row in rows[before:]:
            exited = int_or_none(p.attrs.get(schema.CHILD_PID)) if row.kind == "exit" else None
            row.pid = exited if exited is not None and exited > 0 else p.pid
    return rows


def _point_rows(p: Point, rows: list[EventRow]) -> None:
    """The rows of one point, appended to ``rows``."""
    a = p.attrs
    if p.name in _HOLD_EVENTS or p.name == schema.ACTOR_SPAWN:
        return  # shown in their own sections
    if p.name == schema.CRASH:
        rows.append(
            EventRow(p.time_ns, p.path, "crash", _exc_text(a), bad=True, more=locals_lines(a))
        )
    elif p.name == schema.REMOTE_ERROR:
        typ = a.get(schema.REMOTE_TYPE)
        src = a.get(schema.REMOTE_SRC_PATH)
        if typ:
            detail = f"{_short_type(typ)} from {src or '?'}"
            msg = _first_line(a.get(schema.REMOTE_MESSAGE))
            detail += f": {msg}" if msg else ""
        else:
            detail = _exc_text(a)
        cancelled = _short_type(typ or a.get("exception.type")).endswith("Cancelled")
        rows.append(EventRow(p.time_ns, p.path, "remote error", detail, bad=not cancelled))
    elif p.name == schema.CANCELLED:
        rows.append(EventRow(p.time_ns, p.path, "cancelled", _exc_text(a)))
    elif p.name == schema.STACK_DUMP:
        n = int_or_none(a.get("task_count"))
        what = f"{n} tasks" if n is not None and n >= 0 else "thread stacks"
        where = a.get("log_path")
        detail = f"{a.get('signal') or '?'}, {what}" + (f" -> {where}" if where else "")
        rows.append(EventRow(p.time_ns, p.path, "stack dump", detail))
    elif p.name == schema.ACTOR_EXIT:
        code, sig = (
            int_or_none(a.get(schema.CHILD_EXIT_CODE)),
            str(a.get(schema.CHILD_SIGNAL) or ""),
        )
        detail = exit_text(code, sig) or "exit"
        if a.get(schema.CHILD_CANCEL_REQUESTED) in (True, "True", "true"):
            detail += " (cancel requested)"
        path = str(a.get(schema.CHILD_PATH) or p.path)
        rows.append(EventRow(p.time_ns, path, "exit", detail, bad=bool(sig or code)))
    elif p.name == schema.ACTOR_CANCEL_REQUESTED:
        rows.append(
            EventRow(p.time_ns, p.path, "cancel req", str(a.get(schema.CANCEL_REASON) or ""))
        )
    elif p.name:
        rows.append(EventRow(p.time_ns, p.path, p.name, _generic(p)))
    elif p.severity >= _SEV_WARN:
        rows.append(EventRow(p.time_ns, p.path, "log", _first_line(p.body)))


def call_rows(trace: Trace) -> list[EventRow]:
    """Each call into another tree (a ``devx.remote_call`` span): the function, the
    callee, and under it the span its link names in the callee tree's trace (that
    tree's file, ``--trace``); in the callee tree's trace, each call it served for
    another tree (``devx.remote_call.serve``), with the caller's span it links to."""
    rows = []
    kinds = (
        (schema.REMOTE_CALL_SPAN, "remote call"),
        (schema.REMOTE_CALL_SERVE_SPAN, "call served"),
        (schema.REMOTE_CALL_AT_REPL_SPAN, "callee at REPL"),
    )
    for name, label in kinds:
        for s in trace.named(name):
            a = s["attributes"]
            func = a.get(schema.REMOTE_CALL_FUNC) or "?"
            if name == schema.REMOTE_CALL_SPAN:
                detail = f"{func} in {a.get(schema.CALLEE_UID) or '?'}"
            elif name == schema.REMOTE_CALL_AT_REPL_SPAN:
                detail = (
                    f"{a.get(schema.CALLEE_PATH) or '?'} (pid {a.get(schema.CALLEE_PID) or '?'}): "
                    f"{a.get(schema.REASON) or '?'} at {a.get(schema.HOLDER_WHERE) or '?'}"
                )
            else:
                detail = f"{func} for {a.get(schema.CALLER_UID) or '?'}"
            more = [
                f"linked: trace {x['trace_id']} span {x['span_id']}" for x in s.get("links", ())
            ]
            bad = s["status_code"] == 2  # ERROR
            path = path_of(a, s["resource"])
            rows.append(EventRow(s["start_ns"], path, label, detail, bad=bad, more=more))
    return rows


def _generic(p: Point) -> str:
    if p.body and p.body != p.name:
        return _first_line(p.body)
    extra = {k: v for k, v in p.attrs.items() if k not in _LINEAGE_KEYS}
    return " ".join(f"{k}={_first_line(v)}" for k, v in extra.items())
