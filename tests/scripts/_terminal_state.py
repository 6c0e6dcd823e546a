"""What the terminal was left in once a tree ended, as `stty -a` would say it: the
line ``terminal: echo=... icanon=...`` the PTY tests read (a REPL must give the
terminal back as it found it). Shared by the scripts here."""

import sys
import termios


def print_terminal_state() -> None:
    """Print the terminal's echo and canonical-mode flags (nothing when stdin is no
    terminal)."""
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)
