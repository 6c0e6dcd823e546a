"""Helper threads must not take the process's signals, and end before the process.

A signal sent to the process goes to any thread that does not block it. If a helper
thread takes ctrl-c while the main thread sits in a REPL's ``input()``, the main
thread is never interrupted and the REPL cannot react; a SIGTERM or SIGUSR1 would be
handled late the same way. Every thread devx starts goes through :func:`start_quiet`
(threads it creates in turn inherit the mask).

A process that ends with helper threads alive has the kernel release its memory (~2 ms
for an interpreter that imported trio) in whichever of them dies last, not in the
thread that called exit: that thread is woken by the exit's kill wherever the scheduler
puts it, often the CPU of the parent, which was just woken by the same exit and runs its
own teardown there; the parent then waits for the release behind itself while the
other CPU idles. Helpers registered with :func:`end_before_exit` are asked to end and
joined (:func:`end_helpers`) right before an actor's own exit, so that its main thread
is its last and releases the memory on its own CPU.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

# synchronous faults must stay deliverable to the thread that caused them
_KEEP = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT}
_QUIET: set[int] | None = None
# helper threads that end when asked (end_before_exit), with how to ask: the asking
# returns whether the thread will end now (False: it has work left: not waited for)
_ENDING: list[tuple[threading.Thread, Callable[[], bool]]] = []
# how long an exit waits for its helpers in all: a thread that has not ended by then
# (a write under way, a loaded machine) is ended by the exit as before
END_WAIT = 0.02

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


def end_before_exit(thread: threading.Thread, ask_to_end: Callable[[], bool]) -> None:
    """Have :func:`end_helpers` ask ``thread`` to end (``ask_to_end()``: safe to call
    from the main thread at its exit, True when the thread will end at once) and wait
    for it, before the process exits by itself."""
    _ENDING[:] = [(t, ask) for t, ask in _ENDING if t.is_alive()]
    _ENDING.append((thread, ask_to_end))


def end_helpers(timeout: float | None = None) -> None:
    """Ask the helper threads registered with :func:`end_before_exit` to end, and wait
    for those that said they would, at most ``timeout`` seconds in all (default
    :data:`END_WAIT`, read now; the module docstring says why). For the main thread,
    right before the process exits."""
    if timeout is None:
        timeout = END_WAIT
    asked = []
    for thread, ask in _ENDING:
        if thread.is_alive() and thread is not threading.current_thread():
            try:
                if ask():
                    asked.append(thread)
            except Exception:
                pass
    deadline = time.monotonic() + timeout
    for thread in asked:
        thread.join(max(0.0, deadline - time.monotonic()))
