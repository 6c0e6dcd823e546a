"""Helper threads must not take the process's signals.

A signal sent to the process goes to any thread that does not block it. If a helper
thread takes ctrl-c while the main thread sits in a REPL's ``input()``, the main
thread is never interrupted and the REPL cannot react; a SIGTERM or SIGUSR1 would be
handled late the same way. Every thread devx starts goes through :func:`start_quiet`
(threads it creates in turn inherit the mask).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

# synchronous faults must stay deliverable to the thread that caused them
_KEEP = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}
_QUIET: set[signal.Signals] | None = None


def start_quiet(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` so that it never takes the process's signals, from its first
    instruction: the mask is set around ``start()`` and the thread inherits it
    (blocking in the thread itself leaves a window in which ctrl-c could land there)."""
    global _QUIET
    try:
        if _QUIET is None:
            _QUIET = signal.valid_signals() - _KEEP  # 117 enum members: build them once
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _QUIET)
    except (AttributeError, OSError, ValueError):  # platforms without pthread masks
        thread.start()
        return thread
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return thread


def start_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """A daemon helper thread running ``target``, started by :func:`start_quiet`."""
    return start_quiet(threading.Thread(target=target, name=name, daemon=True))
