"""One tree's session, read and built once for every picture of it (text, Chrome
trace, HTML): the trace picked out of the file, its actor rows, holds and events
from :mod:`.model`, optionally narrowed to some actors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ...core import schema
from .model import ActorRow, EventRow, Hold, actors, call_rows, event_rows, holds, unjoinable
from .source import Loaded, Point, Trace, load, pick, points, traces_of


def under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether actor ``path`` is one of ``prefixes`` or below one of them."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


@dataclass
class Session:
    path: str  # the file
    loaded: Loaded
    traces: list[Trace]  # every devx trace of the file
    trace: Trace  # the one shown
    points: list[Point]
    actors: list[ActorRow]
    holds: list[Hold]
    events: list[EventRow]
    unjoined: int  # lock records without ids (an older devx), left out
    only: tuple[str, ...] = ()  # the --actor filter, if any

    @property
    def t0(self) -> int:
        return self.trace.start_ns


# a context's started / stream opened / result events (its cancel is always listed):
# up to this many in the shown trace are listed, beyond it one line per actor says
# how many (a tree serving a context per request listed thousands, burying its crashes)
CONTEXT_ROWS = 24
_ROUTINE = (schema.CONTEXT_STARTED, schema.CONTEXT_STREAM_OPENED, schema.CONTEXT_RESULT)


def fold_contexts(evs: list[EventRow]) -> list[EventRow]:
    """``evs`` with each actor's routine context events as one row, at its first,
    when the trace has more than :data:`CONTEXT_ROWS` of them."""
    routine = [e for e in evs if e.kind in _ROUTINE]
    if len(routine) <= CONTEXT_ROWS:
        return evs
    counts: dict[str, dict[str, int]] = {}
    firsts: dict[str, EventRow] = {}
    for e in routine:
        counts.setdefault(e.path, dict.fromkeys(_ROUTINE, 0))[e.kind] += 1
        firsts.setdefault(e.path, e)
    out = []
    for e in evs:
        if e.kind not in _ROUTINE:
            out.append(e)
        elif firsts[e.path] is e:
            n = counts[e.path]
            detail = (
                f"{n[schema.CONTEXT_STARTED]} started, {n[schema.CONTEXT_STREAM_OPENED]} "
                f"streams, {n[schema.CONTEXT_RESULT]} results (--contexts lists each)"
            )
            out.append(EventRow(e.time_ns, e.path, "contexts", detail))
    return out


def build(
    path: str | os.PathLike[str],
    *,
    trace_id: str | None = None,
    only: Sequence[str] = (),
    contexts: bool = False,
) -> Session:
    """The session of one trace of the telemetry file at ``path`` (default: its last
    tree). ``only``: actor paths whose rows, holds and events to keep (each with
    its subtree); the holds are joined from the whole trace first, so a hold the
    root recorded for a kept actor is kept. Raises :class:`TimelineError` when there
    is no devx trace to show (or none matches ``trace_id``, or no actor matches
    ``only``), ``OSError`` when the file cannot be read. ``contexts``: list every
    context event, however many (see :func:`fold_contexts`)."""
    from .source import TimelineError

    loaded = load(path)
    traces = traces_of(loaded)
    trace = pick(traces, trace_id)
    pts = points(trace)
    rows, hs = actors(trace, pts), holds(trace, pts)
    evs = sorted(event_rows(pts) + call_rows(trace), key=lambda e: e.time_ns)
    if only:
        known = [r.path for r in rows]
        if not any(under(p, only) for p in known):
            raise TimelineError(
                f"no actor {' or '.join(map(repr, only))} in trace {trace.trace_id[:8]}; "
                f"its actors: {', '.join(known) or '(none)'}"
            )
        rows = [r for r in rows if under(r.path, only)]
        hs = [h for h in hs if under(h.path, only)]
        evs = [e for e in evs if under(e.path, only)]
    if not contexts:
        evs = fold_contexts(evs)
    return Session(
        os.fspath(path),
        loaded,
        traces,
        trace,
        pts,
        rows,
        hs,
        evs,
        unjoinable(trace, pts),
        tuple(only),
    )
