"""The terminal a REPL runs on: its settings saved and put back (a REPL, or a holder
that died mid-prompt, must never leave it without echo), and devx's own lines written
straight to it (banners, not log records: they are the REPL's, never held back)."""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any

# the widest devx lays a line out (where a line goes in two), and its width when it
# is not written to a terminal; a line that would pass a narrower terminal is broken
# at spaces (fit) instead of mid-word by the terminal
WIDTH = 100
NARROWEST = 40  # (a terminal narrower than this gets lines this wide: it wraps them)


def columns(out: Any = None) -> int | None:
    """The width of the terminal ``out`` (a stream or a file descriptor; stdout by
    default) is, its real size (``COLUMNS`` does not count); ``None`` when it is no
    terminal (a pipe, a file). An attached client's stream says its client's
    terminal's width (``terminal_columns``, from the client's hello; 0: none)."""
    told = getattr(out, "terminal_columns", None)
    if isinstance(told, int):
        return told if told > 0 else None
    try:
        fd = out if isinstance(out, int) else (out if out is not None else sys.stdout).fileno()
        cols = os.get_terminal_size(fd).columns
    except (AttributeError, OSError, ValueError):
        return None
    return cols if cols > 0 else None


def width(out: Any = None) -> int:
    """The columns devx lays its lines out in when written to ``out`` (where a line
    goes in two): the terminal's width when narrower than :data:`WIDTH`, else (and
    when ``out`` is no terminal) :data:`WIDTH`."""
    cols = columns(out)
    return WIDTH if cols is None else max(NARROWEST, min(WIDTH, cols))


def fit(text: str, cols: int | None) -> str:
    """``text`` with each line wider than ``cols`` (a terminal's :func:`columns`;
    ``None``: no terminal, ``text`` as it is) broken at spaces, never mid-word as the
    terminal would: what follows goes on lines indented as devx's second lines are (7
    under a ``[devx]`` line, 4 more than an indented line's own indent). Every word is
    kept; one longer than the width (a path) stays whole."""
    if not cols:
        return text
    cols = max(cols, NARROWEST)
    lines = text.split("\n")
    if all(len(line) <= cols for line in lines):
        return text
    out: list[str] = []
    for line in lines:
        if len(line) <= cols:
            out.append(line)
            continue
        body = line.lstrip(" ")
        lead = len(line) - len(body)
        indent = " " * (7 if body.startswith("[devx]") else lead + 4)
        out.extend(
            textwrap.wrap(
                line,
                cols,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [line]
        )
    return "\n".join(out)


def write(text: str) -> None:
    """Write ``text`` (devx's own lines: fitted to the terminal's width, see
    :func:`fit`) to stdout at once; a closed or broken stdout is not an error."""
    try:
        text = fit(text, columns(sys.stdout))
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def save_tty() -> Any:
    """stdin's terminal settings, or ``None`` when stdin is not a terminal."""
    try:
        import termios

        fd = sys.stdin.fileno()
        return fd, termios.tcgetattr(fd)
    except Exception:
        return None


def restore_tty(saved: Any) -> None:
    """Put back what :func:`save_tty` saved (nothing for ``None``)."""
    if saved is None:
        return
    try:
        import termios

        fd, attrs = saved
        termios.tcsetattr(fd, termios.TCSADRAIN, attrs)
    except Exception:
        pass
