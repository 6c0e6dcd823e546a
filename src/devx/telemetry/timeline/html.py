"""The timeline as one self-contained HTML page (no script, no CDN, no network): an
inline SVG with one lane per actor in tree order, built from the same session as the
text and the Chrome trace.

In each lane: the actor's lifetime as a thin bar (red when its code raised), each
turn at the terminal as a bar (its wait before it, lighter), its REPL inside it, and
crashes, remote errors, stack dumps, cancellations and exits as marks. Hovering any
of them shows its details (SVG ``<title>``: the browser's own tooltip).
"""

from __future__ import annotations

import time
from html import escape

from .model import exit_text, how_text, repl_text
from .session import Session

WIDTH = 1100  # of the time axis, in px
LABEL_W = 230
LANE_H = 40
TOP = 40
_REASON_COLOR = {"crash": "#d9534f", "pause": "#3a87ad", "sync_pause": "#5bc0de"}
_MARK_COLOR = {"stack dump": "#8e44ad", "exit": "#555", "cancel req": "#999", "cancelled": "#999"}

_CSS = """
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 16px; margin: 0 0 4px; }
p.meta { margin: 0 0 12px; color: #555; }
svg text { font: 12px ui-monospace, monospace; }
.lane:nth-child(odd) rect.bg { fill: #f6f6f6; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; }
"""


def _x(t_ns: int | None, t0: int, span_ns: int) -> float:
    if t_ns is None:
        return LABEL_W + WIDTH
    return LABEL_W + max(0.0, min(1.0, (t_ns - t0) / span_ns)) * WIDTH


def _secs(t_ns: int | None, t0: int) -> str:
    return "?" if t_ns is None else f"{(t_ns - t0) / 1e9:+.3f} s"


def _title(*lines: str) -> str:
    return f"<title>{escape(chr(10).join(x for x in lines if x))}</title>"


def render(ses: Session) -> str:
    t0 = ses.t0
    end = max([ses.trace.end_ns, *(e.time_ns for e in ses.events)], default=t0)
    span_ns = max(end - t0, 1)
    paths = [r.path for r in ses.actors]
    for p in [h.path for h in ses.holds] + [e.path for e in ses.events]:
        if p not in paths:
            paths.append(p)
    lane = {p: i for i, p in enumerate(paths)}
    height = TOP + LANE_H * len(paths) + 10
    out: list[str] = []
    # time axis: ten ticks
    for i in range(11):
        x = LABEL_W + WIDTH * i / 10
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height}" stroke="#e2e2e2"/>'
            f'<text x="{x:.1f}" y="{TOP - 10}" text-anchor="middle">'
            f"{span_ns * i / 10 / 1e9:.2f}s</text>"
        )
    for p, i in lane.items():
        y = TOP + i * LANE_H
        out.append(
            f'<g class="lane"><rect class="bg" x="0" y="{y}" width="{LABEL_W + WIDTH}" '
            f'height="{LANE_H}" fill="#fff"/><text x="6" y="{y + 24}">{escape(p)}</text></g>'
        )
    for r in ses.actors:
        y = TOP + lane[r.path] * LANE_H
        crashed = r.outcome == "crashed"
        x1, x2 = _x(r.start_ns, t0, span_ns), _x(r.end_ns, t0, span_ns)
        out.append(
            f'<rect class="actor{" crashed" if crashed else ""}" x="{x1:.1f}" y="{y + 30}" '
            f'width="{max(x2 - x1, 1):.1f}" height="5" fill="{"#d9534f" if crashed else "#999"}">'
            + _title(
                f"{r.path} (pid {r.pid if r.pid is not None else '?'})",
                f"{_secs(r.start_ns, t0)} .. {_secs(r.end_ns, t0)}",
                f"outcome: {r.outcome or '?'}" + (" (crashed)" if crashed else ""),
                exit_text(r.exit_code, r.exit_signal),
            )
            + "</rect>"
        )
    for h in ses.holds:
        y = TOP + lane[h.path] * LANE_H
        color = _REASON_COLOR.get(h.reason, "#f0ad4e")
        x1 = _x(h.start_ns, t0, span_ns)
        if h.source == "request":
            out.append(
                f'<circle class="request" cx="{x1:.1f}" cy="{y + 14}" r="4" fill="none" '
                f'stroke="{color}">'
                + _title(f"{h.path}: requested the terminal ({h.reason}), never granted")
                + "</circle>"
            )
            continue
        if h.wait_s:
            xw = _x(h.start_ns - int(h.wait_s * 1e9), t0, span_ns)
            out.append(
                f'<rect class="wait" x="{xw:.1f}" y="{y + 8}" width="{max(x1 - xw, 1):.1f}" '
                f'height="14" fill="{color}" opacity="0.25">'
                + _title(f"{h.path} waiting for the terminal: {h.wait_s:.3f} s")
                + "</rect>"
            )
        x2 = _x(h.end_ns, t0, span_ns)
        held = h.held_s if h.held_s is not None else None
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
                repl_text(h.repl) if h.repl is not None else "",
                f"re-entered {h.reentries}x" if h.reentries else "",
                *h.notes,
            )
            + "</rect>"
        )
        if h.repl is not None:
            rx1 = _x(h.repl["start_ns"], t0, span_ns)
            rx2 = _x(h.repl["end_ns"], t0, span_ns)
            out.append(
                f'<rect class="repl" x="{rx1:.1f}" y="{y + 11}" width="{max(rx2 - rx1, 1):.1f}" '
                f'height="8" fill="#fff" opacity="0.6">' + _title(repl_text(h.repl)) + "</rect>"
            )
    for e in ses.events:
        y = TOP + lane[e.path] * LANE_H
        x = _x(e.time_ns, t0, span_ns)
        color = "#d9534f" if e.bad else _MARK_COLOR.get(e.kind, "#333")
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
    legend = "".join(
        f'<span><i style="background:{c}"></i>{escape(n)}</span>'
        for n, c in [
            ("hold (crash)", _REASON_COLOR["crash"]),
            ("hold (pause)", _REASON_COLOR["pause"]),
            ("error mark", "#d9534f"),
            ("stack dump", _MARK_COLOR["stack dump"]),
            ("actor lifetime", "#999"),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>devx timeline: {escape(ses.trace.root_path)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>devx tree {escape(repr(ses.trace.root_path))}</h1>"
        f'<p class="meta">trace {escape(ses.trace.trace_id)} &middot; started {started} '
        f"&middot; {span_ns / 1e9:.3f} s &middot; file {escape(ses.path)}{only}</p>"
        f'<p class="legend">{legend}</p>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + WIDTH + 10}" '
        f'height="{height}">{"".join(out)}</svg>'
        '<p class="meta">Hover a bar or mark for its details.</p></body></html>\n'
    )
