"""What the timeline shows, out of one trace's points: actor rows, turns at the
terminal (TTY lock holds) and the events worth a line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .source import Point, Record, Trace, int_or_none, path_of, pid_of

TOL_NS = 50_000_000  # slack when matching one process's record against another's
DEATH_SLACK_NS = 500_000_000  # how long after a release the holder's death still explains it
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
_LOCK_EVENTS = ("devx.tty_lock.requested", "devx.tty_lock.granted", "devx.tty_lock.released")
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

    for s in trace.named("devx.actor"):
        a = s["attributes"]
        r = row(path_of(a, s["resource"]) or "?", pid_of(a, s["resource"]))
        r.has_span = True
        r.start_ns, r.end_ns = s["start_ns"], s["end_ns"]
        r.outcome = a.get("devx.actor.outcome") or ("error" if s["status_code"] == 2 else None)
    for p in pts:
        if p.name not in ("devx.actor.spawn", "devx.actor.exit"):
            continue
        path = str(p.attrs.get("devx.child.path") or "")
        if not path:
            continue
        pid = int_or_none(p.attrs.get("devx.child.pid"))
        r = row(path, pid if pid is not None and pid > 0 else None)
        if p.name == "devx.actor.spawn":
            if r.start_ns is None:
                r.start_ns = p.time_ns
        else:
            r.exit_code = int_or_none(p.attrs.get("exit_code"))
            r.exit_signal = str(p.attrs.get("signal") or "")
            if not r.has_span:
                r.end_ns = p.time_ns
    for tree in trace.trees:  # a root that has only its tree span (or nothing else)
        a = tree["attributes"]
        r = row(str(a.get("devx.tree.root") or path_of(a) or "?"), pid_of(a))
        if r.start_ns is None:
            r.start_ns, r.end_ns = tree["start_ns"], tree["end_ns"]
            r.outcome = a.get("devx.tree.outcome")
    # an ancestor with nothing of its own on record (a root that died): its children
    # know its path and pid
    parent_pids: dict[str, int | None] = {}
    for s in trace.named("devx.actor"):
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
        int_or_none(a.get("devx.tty_lock.holder.pid")),
        str(a.get("devx.tty_lock.reason") or a.get("reason") or "?"),
    )


def _same(pid_a: int | None, pid_b: int | None) -> bool:
    return pid_a is None or pid_b is None or pid_a == pid_b


def _within(t: int, start: int, end: int | None) -> bool:
    return start - TOL_NS <= t and (end is None or t <= end + TOL_NS)


def _hold_at(
    hs: list[Hold], path: str, pid: int | None, t: int, free: Callable[[Hold], bool]
) -> Hold | None:
    """The first hold of ``path``/``pid`` that was on at ``t`` and that ``free``
    accepts (not yet matched to a span of the kind at hand)."""
    for h in hs:
        if free(h) and h.path == path and _same(h.pid, pid) and _within(t, h.start_ns, h.end_ns):
            return h
    return None


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
        path, pid = path_of(a, s["resource"]), pid_of(a, s["resource"])
        h = _hold_at(
            out, path, pid, s["start_ns"], lambda h: h.source == "grant" and h.held_span is None
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
        path, pid = path_of(a, s["resource"]), pid_of(a, s["resource"])
        h = _hold_at(out, path, pid, s["start_ns"], lambda h: h.repl is None)
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
            code, sig = int_or_none(p.attrs.get("exit_code")), str(p.attrs.get("signal") or "")
            late = DEATH_SLACK_NS if h.held_span is None else 0
            if (
                p.attrs.get("devx.child.path") == h.path
                and _same(h.pid, int_or_none(p.attrs.get("devx.child.pid")))
                and h.start_ns <= p.time_ns
                and (h.end_ns is None or p.time_ns <= h.end_ns + late)
                and (sig or code)
            ):
                h.notes.insert(0, f"holder died ({exit_text(code, sig)})")
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
            n = int_or_none(a.get("task_count"))
            what = f"{n} tasks" if n is not None and n >= 0 else "thread stacks"
            where = a.get("log_path")
            detail = f"{a.get('signal') or '?'}, {what}" + (f" -> {where}" if where else "")
            rows.append(EventRow(p.time_ns, p.path, "stack dump", detail))
        elif p.name == "devx.actor.exit":
            code, sig = int_or_none(a.get("exit_code")), str(a.get("signal") or "")
            detail = exit_text(code, sig) or "exit"
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
