"""The terminal a REPL runs on: its settings saved and put back (a REPL, or a holder
that died mid-prompt, must never leave it without echo), and devx's own lines written
straight to it (banners, not log records: they are the REPL's, never held back)."""

from __future__ import annotations

import sys
from typing import Any


def write(text: str) -> None:
    """Write ``text`` to stdout at once; a closed or broken stdout is not an error."""
    try:
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
