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

from .source import TimelineError, newest_file, telemetry_dir
from .text import render

__all__ = ["TimelineError", "newest_file", "render", "telemetry_dir"]
