"""``devx timeline``: one tree's debugging session read back from its telemetry file,
for a user with no trace viewer (Jaeger, Docker) at hand: as plain text
(:mod:`.text`), or as a picture: Chrome trace-event JSON for chrome://tracing and
Perfetto (:mod:`.chrome`), all built from one :class:`.session.Session`.

Who ran (actors), who held the terminal and when (TTY lock), and what went wrong
(crashes, remote errors, stack dumps, exits), with times relative to the tree start.

The TTY-lock section joins records by the ids of the lock protocol (names in
:mod:`devx.core.schema`): each hold is the root's grant and release records of
one hold id (the root writes them, so they are complete even when a holder was
SIGKILLed before exporting anything: its hold ends ``holder_lost``), with the
holder's own lock-held and REPL spans and its re-entries of the same hold id; a
request is answered by the grant carrying its request id, and listed as never
granted otherwise. Each hold shows its wait, how long it was held and how it ended
(continue, quit, stepped out, ...). Records without ids (an older devx) are counted
and left out.

Pure functions over :mod:`devx.telemetry.readback` dicts, stdlib only (no
OpenTelemetry import): the CLI must work where only the file is.
"""

from __future__ import annotations

from ...core.public import lazy_getattr
from .session import Session, build
from .source import TimelineError, file_with_trace, newest_file, telemetry_dir
from .text import render, render_session

__getattr__ = lazy_getattr(__name__, {})  # .chrome, .html ... on first use

__all__ = [
    "Session",
    "TimelineError",
    "build",
    "file_with_trace",
    "newest_file",
    "render",
    "render_session",
    "telemetry_dir",
]
