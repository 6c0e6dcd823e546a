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
_QUIET: set[int] | None = None

# the C functions, on signal numbers: signal's wrappers turn every signal of the sets
# they return into a Signals enum member (~60 for a full mask: ~0.15 ms per thread
# start, on an actor's way to its first spawn or to ready)
try:
    from _signal import pthread_sigmask as _sigmask
    from _signal import valid_signals as _valid_signals
except ImportError:  # platforms without pthread masks (or another Python)
    _sigmask = getattr(signal, "pthread_sigmask", None)
    _valid_signals = getattr(signal, "valid_signals", None)


def start_quiet(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` so that it never takes the process's signals, from its first
    instruction: the mask is set around ``start()`` and the thread inherits it
    (blocking in the thread itself leaves a window in which ctrl-c could land there)."""
    global _QUIET
    try:
        if _sigmask is None or _valid_signals is None:
            raise AttributeError("no pthread_sigmask")
        if _QUIET is None:
            _QUIET = set(_valid_signals()) - {int(s) for s in _KEEP}
        old = _sigmask(signal.SIG_BLOCK, _QUIET)
    except (AttributeError, OSError, ValueError):  # platforms without pthread masks
        thread.start()
        return thread
    try:
        thread.start()
    finally:
        _sigmask(signal.SIG_SETMASK, old)
    return thread


def start_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """A daemon helper thread running ``target``, started by :func:`start_quiet`."""
    return start_quiet(threading.Thread(target=target, name=name, daemon=True))
