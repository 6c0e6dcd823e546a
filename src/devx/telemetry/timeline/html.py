"""The timeline as one self-contained HTML page (no script, no CDN, no network): an
inline SVG with one lane per actor in tree order, built from the same session as the
text and the Chrome trace.

In each lane: the actor's lifetime as a thin bar (red from the moment its code
raised), each turn at the terminal as a bar (its wait before it, lighter), its REPL
inside it, and crashes, remote errors, stack dumps, cancellations and exits as marks.
Hovering any of them shows its details (SVG ``<title>``: the browser's own tooltip).
The legend lists every colour the page uses, and only those.
"""

from __future__ import annotations

import time
from html import escape

from ...core import schema
from .model import crash_text, exit_text, hold_repl_text, how_text, repl_text
from .session import Session

PAGE_W = 1340  # the drawing's default width in px (--width sets it)
MIN_AXIS_W = 300  # the time axis never gets narrower than this
LABEL_MIN, LABEL_MAX = 230, 0.45  # the label column: at least, at most (of the width)
CHAR_W = 7.3  # px per character of the 12px monospace labels (a generous estimate)
LANE_H = 40
TOP = 40
PAD = 10  # right margin: the last axis label ends inside the drawing
_RED = "#d9534f"
_LIFE = "#999"
_OTHER_HOLD = "#f0ad4e"  # any other reason (thread, breakpoint ...)
_OTHER_MARK = "#333"
_WAIT_ALPHA = "40"  # the wait band: its hold's colour at 25% (as #rrggbbaa)
_REASON_COLOR = {
    schema.HOLD_CRASH: _RED,
    schema.HOLD_PAUSE: "#3a87ad",
    schema.HOLD_SYNC_PAUSE: "#5bc0de",
}
_MARK_COLOR = {"stack dump": "#8e44ad", "exit": "#555", "cancel req": "#999", "cancelled": "#999"}

_CSS = """
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 16px; margin: 0 0 4px; }
p.meta { margin: 0 0 12px; color: #555; }
svg text { font: 12px ui-monospace, monospace; }
.lane:nth-child(odd) rect.bg { fill: #f6f6f6; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px;
            border: 1px solid #ccc; }
"""


class _Axis:
    """Where times go: after the label column, over ``width`` px."""

    def __init__(self, label_w: float, width: float, t0: int, span_ns: int) -> None:
        self.label_w, self.width, self.t0, self.span_ns = label_w, width, t0, span_ns

    def x(self, t_ns: int | None) -> float:
        if t_ns is None:
            return self.label_w + self.width
        frac = max(0.0, min(1.0, (t_ns - self.t0) / self.span_ns))
        return self.label_w + frac * self.width


def _fit(path: str, room: float) -> str:
    """``path`` cut from the left to fit ``room`` px (the leaf is what tells lanes
    apart); the whole path is in the lane's tooltip."""
    chars = max(4, int(room / CHAR_W))
    return path if len(path) <= chars else "\u2026" + path[-(chars - 1) :]


def _secs(t_ns: int | None, t0: int) -> str:
    return "?" if t_ns is None else f"{(t_ns - t0) / 1e9:+.3f} s"


def _title(*lines: str) -> str:
    return f"<title>{escape(chr(10).join(x for x in lines if x))}</title>"


def render(ses: Session, width: int | None = None) -> str:
    """The page; ``width``: the drawing's width in px (labels and time axis)."""
    t0 = ses.t0
    end = max([ses.trace.end_ns, *(e.time_ns for e in ses.events)], default=t0)
    span_ns = max(end - t0, 1)
    paths = [r.path for r in ses.actors]
    for p in [h.path for h in ses.holds] + [e.path for e in ses.events]:
        if p not in paths:
            paths.append(p)
    lane = {p: i for i, p in enumerate(paths)}
    total = max(width or PAGE_W, LABEL_MIN + MIN_AXIS_W + PAD)
    longest = max((len(p) for p in paths), default=0) * CHAR_W + 16
    label_w = min(max(LABEL_MIN, longest), total * LABEL_MAX)
    ax = _Axis(label_w, total - label_w - PAD, t0, span_ns)
    height = TOP + LANE_H * len(paths) + 10
    legend: dict[str, str] = {}  # what each colour used means, in the order drawn
    out: list[str] = []
    # time axis: ten ticks; the first label starts at its tick, the last ends at its
    # own, the others are centred: none reaches past the drawing
    for i in range(11):
        x = ax.label_w + ax.width * i / 10
        anchor = "start" if i == 0 else "end" if i == 10 else "middle"
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height}" stroke="#e2e2e2"/>'
            f'<text class="tick" x="{x:.1f}" y="{TOP - 10}" text-anchor="{anchor}">'
            f"{span_ns * i / 10 / 1e9:.2f}s</text>"
        )
    for p, i in lane.items():
        y = TOP + i * LANE_H
        out.append(
            f'<g class="lane"><rect class="bg" x="0" y="{y}" width="{total}" '
            f'height="{LANE_H}" fill="#fff"/><text x="6" y="{y + 24}">'
            f"{escape(_fit(p, label_w - 12))}{_title(p)}</text></g>"
        )
    crash_at: dict[str, int] = {}
    for e in ses.events:
        if e.kind == "crash" and e.path not in crash_at:
            crash_at[e.path] = e.time_ns
    for r in ses.actors:
        y = TOP + lane[r.path] * LANE_H
        crashed = r.outcome == "crashed"
        x1, x2 = ax.x(r.start_ns), ax.x(r.end_ns)
        # red from the crash on (from the start when the crash time is unknown)
        xc = ax.x(crash_at[r.path]) if crashed and r.path in crash_at else x1
        tip = _title(
            f"{r.path} (pid {r.pid if r.pid is not None else '?'})",
            f"{_secs(r.start_ns, t0)} .. {_secs(r.end_ns, t0)}",
            f"outcome: {r.outcome or '?'}"
            + (f" (crashed at {_secs(crash_at[r.path], t0)})" if r.path in crash_at else ""),
            exit_text(r.exit_code, r.exit_signal),
        )
        if not crashed or xc > x1:
            right = xc if crashed else x2
            legend.setdefault("actor lifetime", _LIFE)
            out.append(
                f'<rect class="actor" x="{x1:.1f}" y="{y + 30}" '
                f'width="{max(right - x1, 1):.1f}" height="5" fill="{_LIFE}">{tip}</rect>'
            )
        if crashed:
            legend.setdefault("lifetime after its code raised", _RED)
            out.append(
                f'<rect class="actor crashed" x="{xc:.1f}" y="{y + 30}" '
                f'width="{max(x2 - xc, 1):.1f}" height="5" fill="{_RED}">{tip}</rect>'
            )
    for h in ses.holds:
        y = TOP + lane[h.path] * LANE_H
        color = _REASON_COLOR.get(h.reason, _OTHER_HOLD)
        x1 = ax.x(h.start_ns)
        if h.source == "request":
            legend.setdefault(f"request never granted ({h.reason})", color)
            out.append(
                f'<circle class="request" cx="{x1:.1f}" cy="{y + 14}" r="4" fill="none" '
                f'stroke="{color}">'
                + _title(f"{h.path}: requested the terminal ({h.reason}), never granted")
                + "</circle>"
            )
            continue
        if h.wait_s:
            xw = ax.x(h.start_ns - int(h.wait_s * 1e9))
            legend.setdefault(f"waiting for the terminal ({h.reason})", color + _WAIT_ALPHA)
            out.append(
                f'<rect class="wait" x="{xw:.1f}" y="{y + 8}" width="{max(x1 - xw, 1):.1f}" '
                f'height="14" fill="{color}" opacity="0.25">'
                + _title(f"{h.path} waiting for the terminal: {h.wait_s:.3f} s")
                + "</rect>"
            )
        x2 = ax.x(h.end_ns)
        held = h.held_s if h.held_s is not None else None
        legend.setdefault(f"holding the terminal ({h.reason})", color)
        out.append(
            f'<rect class="hold" x="{x1:.1f}" y="{y + 8}" width="{max(x2 - x1, 2):.1f}" '
            f'height="14" fill="{color}">'
            + _title(
                f"hold #{h.hold_id} by {h.path}" if h.hold_id else f"hold by {h.path}",
                f"reason: {h.reason}",
                f"{_secs(h.start_ns, t0)} .. {_secs(h.end_ns, t0)}",
                f"waited {h.wait_s:.3f} s" if h.wait_s is not None else "",
                f"held {held:.3f} s" if held is not None else "",
                f"ended: {how_text(h.how)}" if h.how else "",
                hold_repl_text(h),
                f"re-entered {h.reentries}x" if h.reentries else "",
                crash_text(h),
                *h.notes,
            )
            + "</rect>"
        )
        if h.repl is not None:
            rx1 = ax.x(h.repl["start_ns"])
            rx2 = ax.x(h.repl["end_ns"])
            legend.setdefault("REPL open (inside its hold)", "#ffffff99")
            out.append(
                f'<rect class="repl" x="{rx1:.1f}" y="{y + 11}" width="{max(rx2 - rx1, 1):.1f}" '
                f'height="8" fill="#fff" opacity="0.6">' + _title(repl_text(h.repl)) + "</rect>"
            )
    for e in ses.events:
        y = TOP + lane[e.path] * LANE_H
        x = ax.x(e.time_ns)
        color = _RED if e.bad else _MARK_COLOR.get(e.kind, _OTHER_MARK)
        legend.setdefault(f"{e.kind} (error)" if e.bad else e.kind, color)
        kind = e.kind.replace(" ", "-")
        out.append(
            f'<path class="mark {escape(kind)}" d="M{x:.1f},{y + 4} l5,9 l-10,0 z" fill="{color}">'
            + _title(
                f"{e.kind} in {e.path} at {_secs(e.time_ns, t0)}",
                "\n".join([e.detail, *e.more]),
            )
            + "</path>"
        )
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0 / 1e9))
    only = f" &middot; only {escape(', '.join(ses.only))}" if ses.only else ""
    keys = "".join(
        f'<span data-color="{c}"><i style="background:{c}"></i>{escape(n)}</span>'
        for n, c in legend.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>devx timeline: {escape(ses.trace.root_path)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>devx tree {escape(repr(ses.trace.root_path))}</h1>"
        f'<p class="meta">trace {escape(ses.trace.trace_id)} &middot; started {started} '
        f"&middot; {span_ns / 1e9:.3f} s &middot; file {escape(ses.path)}{only}</p>"
        f'<p class="legend">{keys}</p>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" '
        f'height="{height}">{"".join(out)}</svg>'
        '<p class="meta">Hover a bar, mark or lane name for its details.</p></body></html>\n'
    )
