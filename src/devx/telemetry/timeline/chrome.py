"""The timeline as a picture: Chrome trace-event JSON (the format of chrome://tracing
and https://ui.perfetto.dev, which ``ray timeline`` also writes), built from the same
model as the text.

One process track per actor, named by its tree path and sorted in tree order, each
with two threads: ``actor`` (its lifetime as one bar, named ``... (crashed)`` when its
code raised) and ``terminal`` (its turns at the TTY lock: the wait as one bar, the
hold as the next, carrying hold id, reason, wait, held, how it ended and the REPL
frame as args). Crashes, remote errors, cancellations, stack dumps and exits are
instant marks on the actor thread. Times are microseconds from the tree's start.
"""

from __future__ import annotations

import json
from typing import Any

from .model import ActorRow, EventRow, Hold, exit_text, how_text, repl_text
from .session import Session

ACTOR_TID, TERMINAL_TID = 1, 2
_CRASHED = ("crashed",)


def _us(t_ns: int, t0: int) -> float:
    return round((t_ns - t0) / 1e3, 3)


def _track_ids(ses: Session) -> dict[str, int]:
    """A Chrome "pid" per actor path: its OS pid when known and unique, else a small
    number (a pid is only a track id to the viewer)."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for r in ses.actors:
        if r.pid is not None and r.pid not in used:
            out[r.path] = r.pid
            used.add(r.pid)
    n = 1
    for path in (
        [r.path for r in ses.actors] + [h.path for h in ses.holds] + [e.path for e in ses.events]
    ):
        if path not in out:
            while n in used:
                n += 1
            out[path] = n
            used.add(n)
    return out


def _meta(pid: int, tid: int | None, name: str, value: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"ph": "M", "pid": pid, "name": name, "args": value}
    if tid is not None:
        ev["tid"] = tid
    return ev


def _actor_bar(r: ActorRow, pid: int, t0: int, end_ns: int) -> dict[str, Any]:
    crashed = r.outcome in _CRASHED
    start = r.start_ns if r.start_ns is not None else t0
    end = r.end_ns if r.end_ns is not None else end_ns
    args: dict[str, Any] = {"path": r.path, "pid": r.pid, "outcome": r.outcome or "?"}
    if r.exit_code or r.exit_signal:
        args["exit"] = exit_text(r.exit_code, r.exit_signal)
    if not r.has_span:
        args["note"] = "no actor span on record"
    ev = {
        "ph": "X",
        "pid": pid,
        "tid": ACTOR_TID,
        "name": r.path + (" (crashed)" if crashed else ""),
        "cat": "actor",
        "ts": _us(start, t0),
        "dur": max(_us(end, t0) - _us(start, t0), 0),
        "args": args,
    }
    if crashed:
        ev["cname"] = "terrible"
    return ev


def _hold_events(h: Hold, pid: int, t0: int, end_ns: int) -> list[dict[str, Any]]:
    args: dict[str, Any] = {"actor": h.path, "reason": h.reason}
    if h.hold_id:
        args["hold_id"] = h.hold_id
    if h.source == "request":
        mark = {"ph": "i", "s": "t", "pid": pid, "tid": TERMINAL_TID, "cat": "tty_lock"}
        return [
            {**mark, "name": "requested, never granted", "ts": _us(h.start_ns, t0), "args": args}
        ]
    out = []
    if h.wait_s:
        wait_us = round(h.wait_s * 1e6, 3)
        out.append(
            {
                "ph": "X",
                "pid": pid,
                "tid": TERMINAL_TID,
                "name": "waiting for the terminal",
                "cat": "tty_lock",
                "ts": _us(h.start_ns, t0) - wait_us,
                "dur": wait_us,
                "args": args,
                "cname": "grey",
            }
        )
    end = h.end_ns if h.end_ns is not None else end_ns
    held = {**args, "wait_s": h.wait_s, "held_s": h.held_s}
    if h.how is not None:
        held["ended"] = how_text(h.how)
    if h.repl is not None:
        held["repl"] = repl_text(h.repl)
    if h.reentries:
        held["reentries"] = h.reentries
    if h.notes:
        held["notes"] = "; ".join(h.notes)
    name = f"hold #{h.hold_id} ({h.reason})" if h.hold_id else f"hold ({h.reason})"
    out.append(
        {
            "ph": "X",
            "pid": pid,
            "tid": TERMINAL_TID,
            "name": name,
            "cat": "tty_lock",
            "ts": _us(h.start_ns, t0),
            "dur": max(_us(end, t0) - _us(h.start_ns, t0), 0),
            "args": held,
            **({"cname": "terrible"} if h.how == "holder_lost" else {}),
        }
    )
    return out


def _mark(e: EventRow, pid: int, t0: int) -> dict[str, Any]:
    ev = {
        "ph": "i",
        "s": "t",
        "pid": pid,
        "tid": ACTOR_TID,
        "name": f"{e.kind}: {e.detail}" if e.detail else e.kind,
        "cat": e.kind,
        "ts": _us(e.time_ns, t0),
        "args": {"actor": e.path, "kind": e.kind, "detail": e.detail},
    }
    if e.bad:
        ev["cname"] = "terrible"
    return ev


def trace_events(ses: Session) -> dict[str, Any]:
    """The session as a Chrome trace-event document (JSON object format)."""
    t0, end_ns = ses.t0, ses.trace.end_ns
    ids = _track_ids(ses)
    evs: list[dict[str, Any]] = []
    for i, (path, pid) in enumerate(ids.items()):
        evs.append(_meta(pid, None, "process_name", {"name": path}))
        evs.append(_meta(pid, None, "process_sort_index", {"sort_index": i}))
        evs.append(_meta(pid, ACTOR_TID, "thread_name", {"name": "actor"}))
        evs.append(_meta(pid, TERMINAL_TID, "thread_name", {"name": "terminal"}))
    evs += [_actor_bar(r, ids[r.path], t0, end_ns) for r in ses.actors]
    for h in ses.holds:
        evs += _hold_events(h, ids[h.path], t0, end_ns)
    evs += [_mark(e, ids[e.path], t0) for e in ses.events]
    return {
        "traceEvents": evs,
        "displayTimeUnit": "ms",
        "otherData": {
            "trace_id": ses.trace.trace_id,
            "tree": ses.trace.root_path,
            "file": ses.path,
            "only": list(ses.only),
        },
    }


def render(ses: Session) -> str:
    return json.dumps(trace_events(ses), indent=None, separators=(",", ":")) + "\n"
