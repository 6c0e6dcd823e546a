"""Helper threads must not take the process's signals.

A signal sent to the process goes to any thread that does not block it. If a helper
thread takes ctrl-c while the main thread sits in a REPL's ``input()``, the main
thread is never interrupted and the REPL cannot react; a SIGTERM or SIGUSR1 would be
handled late the same way. Every thread devx starts calls :func:`block_signals`
first (threads it creates in turn inherit the mask).
"""

from __future__ import annotations

import signal

# synchronous faults must stay deliverable to the thread that caused them
_KEEP = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}


def block_signals() -> None:
    """Block asynchronous signals in the calling (non-main) thread."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - _KEEP)
    except (AttributeError, OSError, ValueError):  # platforms without pthread masks
        pass
