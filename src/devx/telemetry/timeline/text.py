"""The timeline as text: aligned columns, times relative to the tree start, optional
colour."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...core import schema
from .model import (
    ActorRow,
    EventRow,
    Hold,
    crash_text,
    exit_text,
    hold_repl_text,
    how_text,
)
from .session import Session, build
from .source import Loaded, Trace

WIDTH = 100  # what the output fits in when the terminal's width is unknown (a pipe)

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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _vlen(text: str) -> int:
    """Columns ``text`` takes on screen (colour codes take none)."""
    return len(_ANSI.sub("", text))


def _wrap(head: str, notes: list[str], indent: int, width: int) -> list[str]:
    """``head`` then its notes, carried onto lines indented by ``indent`` once a line
    would pass ``width``."""
    lines, line = [], head
    for note in notes:
        if _vlen(line) + 2 + _vlen(note) > width and line.strip():
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
    width: int  # columns to fit in

    def rel(self, t: int | None) -> str:
        return f"{_rel(t, self.t0):>{self.tw}}"

    def paint(self, text: str, code: str) -> str:
        return _paint(text, code, self.color)


def _header(path: str, loaded: Loaded, traces: list[Trace], trace: Trace, st: _Style) -> list[str]:
    trees = trace.trees
    tree = trees[-1] if trees else None
    ta = tree["attributes"] if tree else {}
    debug_mode = ta.get("devx.debug_mode")
    for s in trace.named(schema.ACTOR_SPAN):
        if debug_mode is None and s["attributes"].get("devx.actor.is_root"):
            debug_mode = s["attributes"].get("devx.debug_mode")
    bits = [f"tree {trace.root_path!r}"]
    if debug_mode:
        bits.append("debug_mode")
    bits.append("started " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.t0 / 1e9)))
    if tree is not None:
        bits.append(f"{(tree['end_ns'] - tree['start_ns']) / 1e9:.3f} s")
        outcome = str(ta.get(schema.TREE_OUTCOME) or "?")
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
        bad = outcome in ("error", "crashed", "hard_exit")  # (hard_exit: lifeline.exit_now)
        painted = st.paint(f"{outcome:<9}", _RED if bad else "")
        line = f"  {r.path:<{pw}}  {pid}  {st.rel(r.start_ns)} .. {st.rel(r.end_ns)}  {painted}"
        notes = []
        if r.exit_code or r.exit_signal:
            notes.append(st.paint(exit_text(r.exit_code, r.exit_signal), _RED))
        if not r.has_span:
            notes.append("(no actor span on record)")
        out.extend(_wrap(line.rstrip(), notes, 4, st.width))
    return out


def _hold_lines(hs: list[Hold], unjoined: int, st: _Style) -> list[str]:
    turns = [h for h in hs if h.source != "request"]
    never = len(hs) - len(turns)
    head = f"TTY lock (who held the terminal): {len(turns)} hold(s)"
    out = [st.paint(head + (f", {never} request(s) never granted" if never else ""), _BOLD)]
    if not hs and not unjoined:
        out.append("  (nobody took the terminal)")
    if unjoined:
        out.append(
            st.paint(f"  note: {unjoined} lock record(s) without hold ids left out", _YELLOW)
            + " (an older devx wrote them)"
        )
    pw = _col(h.path for h in hs)
    rw = _col(h.reason for h in hs)
    iw = _col(f"#{h.hold_id}" for h in hs if h.hold_id)
    for h in hs:
        hid = f"{'#' + str(h.hold_id) if h.hold_id else '':>{iw}}  " if iw else ""
        who = f"{h.path:<{pw}}  {h.reason:<{rw}}"
        if h.source == "request":
            never_text = st.paint("requested, never granted", _YELLOW)
            out.append(f"  {hid}{st.rel(h.start_ns)}    {'':{st.tw}}  {who}  {never_text}")
            continue
        held = h.held_s
        if held is None and h.end_ns is not None:
            held = (h.end_ns - h.start_ns) / 1e9
        notes = [f"held {_secs(held)}"]
        if h.source != "repl":
            notes = [f"waited {_secs(h.wait_s)}  held {_secs(held)}"]
        if h.how is not None:
            notes.append("ended: " + st.paint(how_text(h.how), _HOW_COLOR.get(h.how, "")))
        if h.repl is not None:
            notes.append(hold_repl_text(h))
        elif h.held_span is not None:
            notes.append("no REPL")
        elif h.where:  # its REPL is still open, or its holder died: where it stopped
            notes.append(f"at {h.where}")
        if h.reentries:
            notes.append(f"re-entered {_times(h.reentries)}")
        if crashed := crash_text(h):
            notes.append(crashed)
        for n in h.notes:
            warn = n.startswith(("holder died", "OVERLAPS", "no release"))
            notes.append(st.paint(n, _RED if warn else _DIM))
        end = st.rel(h.end_ns) if h.end_ns is not None else f"{'?':>{st.tw}}"
        indent = 8 + 2 * st.tw + len(hid)
        out.extend(_wrap(f"  {hid}{st.rel(h.start_ns)} .. {end}  {who}", notes, indent, st.width))
    return out


_HOW_COLOR = {
    "holder_lost": _RED,
    schema.RELEASED_OWNER_ENDED: _RED,
    "quit": _YELLOW,
    "cancelled": _YELLOW,
}


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _event_lines(evs: list[EventRow], st: _Style) -> list[str]:
    out = [st.paint(f"events ({len(evs)})", _BOLD)]
    if not evs:
        out.append("  (none on record)")
    # a path two actors had (a worker restarted under its name): each row says whose
    pids: dict[str, set[int]] = {}
    for e in evs:
        if e.pid is not None:
            pids.setdefault(e.path, set()).add(e.pid)

    def who(e: EventRow) -> str:
        shared = len(pids.get(e.path, ())) > 1 and e.pid is not None
        return f"{e.path} ({e.pid})" if shared else e.path

    pw = _col(who(e) for e in evs)
    kw = _col((e.kind for e in evs), cap=14)
    for e in evs:
        head = f"  {st.rel(e.time_ns)}  {who(e):<{pw}}  "
        kind = st.paint(f"{e.kind:<{kw}}", _RED if e.bad else "")
        detail = _fit(e.detail, st.width - len(head) - kw - 2)
        out.append(f"{head}{kind}  {detail}".rstrip())
        pad = " " * (len(head) + kw + 2)
        for line in e.more:
            out.append(pad + _fit(line, st.width - len(pad)))
    return out


def render(
    path: str | os.PathLike[str],
    *,
    trace_id: str | None = None,
    color: bool = False,
    width: int = WIDTH,
    only: Sequence[str] = (),
) -> str:
    """The timeline of one trace of the telemetry file at ``path`` (default: its last
    tree) as text fitting ``width`` columns (0: never cut), of the actors ``only``
    names (with their subtrees; default: all). Raises :class:`TimelineError` when
    there is no devx trace to show (or no trace matches ``trace_id``), ``OSError``
    when the file cannot be read."""
    return render_session(build(path, trace_id=trace_id, only=only), color=color, width=width)


def render_session(ses: Session, *, color: bool = False, width: int = WIDTH) -> str:
    trace, t0 = ses.trace, ses.t0
    times = [t0, trace.end_ns, *(p.time_ns for p in ses.points)]
    tw = max(len(_rel(min(times), t0)), len(_rel(max(times), t0)))
    st = _Style(t0, tw, color, width if width > 0 else 1 << 30)
    header = _header(ses.path, ses.loaded, ses.traces, trace, st)
    if ses.only:
        header.append(f"only actors under {', '.join(ses.only)}")
    return "\n".join(
        [
            *header,
            *_actor_lines(ses.actors, st),
            *_hold_lines(ses.holds, ses.unjoined, st),
            *_event_lines(ses.events, st),
        ]
    )
