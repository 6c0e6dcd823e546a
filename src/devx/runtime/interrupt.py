"""ctrl-c storms: the first ctrl-c that stops the tree is the only one.

Once a SIGINT has been handed to trio (a ``KeyboardInterrupt`` on its way through
the tree's teardown), further SIGINTs are dropped until the root exits: each would
otherwise raise another ``KeyboardInterrupt`` wherever the root happens to be (a
child being stopped, the telemetry flush), cutting the teardown short and ending in
a group of them. The teardown is bounded anyway (cancel grace, then SIGTERM, then
SIGKILL), so a second ctrl-c has nothing left to hurry.

The storm outlives the root: after the guard is gone, until ``trio.run`` ends, late
SIGINTs are still dropped (trio would otherwise raise a second KeyboardInterrupt,
chained to the first); at the run's end (its ``after_run`` instrument hook) trio's own
handler goes back, and trio puts Python's default back as it always does, so a program
that catches the interrupt and goes on (a second tree, a REPL, ``input()``) gets
ctrl-c exactly as before. If nothing catches it, the interpreter's report of it
ignores further SIGINTs (a ``sys.excepthook`` wrapper): a late one would raise in the
middle of the traceback or during shutdown. The exit status stays "killed by SIGINT".

The guard sits under the debug layer's SIGINT handler (installed later, inside the
actor's hooks), so it only ever sees the SIGINTs meant to stop the tree: ctrl-c at a
live REPL never reaches it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

Handler = Callable[[int, FrameType | None], Any] | int | None


class InterruptGuard:
    """Wraps the current SIGINT handler (trio's) while a root actor runs."""

    def __init__(self) -> None:
        self.stopping = False
        self.dropped = 0
        self._prev: Handler = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.dropped += 1
            return
        prev = self._prev
        if callable(prev):
            self.stopping = True  # trio's handler raises or schedules the interrupt
            prev(signum, frame)
        elif prev == signal.SIG_DFL:
            self.stopping = True
            raise KeyboardInterrupt

    def install(self) -> InterruptGuard:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers belong to the main thread only
        prev = signal.getsignal(signal.SIGINT)
        if prev in (signal.SIG_IGN, None):
            return self
        self._prev = prev
        signal.signal(signal.SIGINT, self._handler)
        self._installed = True
        _quiet_interrupt_report()
        return self

    def restore(self) -> None:
        """Put the previous handler back; after a ctrl-c, only at the end of the run
        (see the module docstring)."""
        if self._installed and signal.getsignal(signal.SIGINT) == self._handler:
            if not (self.stopping and _drop_until_run_ends(self._prev)):
                signal.signal(signal.SIGINT, self._prev)
        self._installed = False


def _drop(signum: int, frame: FrameType | None) -> None:
    """The tail of a ctrl-c storm, after the guard is gone, inside the same run."""


def _drop_until_run_ends(prev: Handler) -> bool:
    """Drop SIGINTs until this trio run ends, then put ``prev`` (trio's) back."""
    import trio

    class PutBack(trio.abc.Instrument):
        def after_run(self) -> None:
            if signal.getsignal(signal.SIGINT) is _drop:
                signal.signal(signal.SIGINT, prev)  # trio then restores the default

    try:
        trio.lowlevel.add_instrument(PutBack())
    except RuntimeError:  # not inside a run: nothing to wait for
        return False
    signal.signal(signal.SIGINT, _drop)
    return True


_report_wrapped = False


def _quiet_interrupt_report() -> None:
    """Once per process: an uncaught KeyboardInterrupt is reported with SIGINT ignored
    (the process is ending because of it; see the module docstring)."""
    global _report_wrapped
    if _report_wrapped:
        return
    _report_wrapped = True
    previous = sys.excepthook

    def excepthook(typ: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        ignore_late_sigint(typ)
        previous(typ, exc, tb)

    sys.excepthook = excepthook


def ignore_late_sigint(typ: type[BaseException]) -> None:
    """An uncaught KeyboardInterrupt is being reported: SIGINT is ignored from now on
    (the process is ending because of it). Each excepthook that wraps the report
    calls it first thing, before any other Python code of its own: a storm's late
    SIGINT between two bytecodes of the hook raised a second KeyboardInterrupt inside
    it (seen under load in CI: "Error in sys.excepthook")."""
    if issubclass(typ, KeyboardInterrupt):
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            pass  # not the main thread: signal handlers are the main thread's


def only_interrupts(exc: BaseException) -> bool:
    """``exc`` is KeyboardInterrupts (at least one) and cancellations, nothing else."""
    import trio

    if isinstance(exc, BaseExceptionGroup):
        leaves = list(_leaves(exc))
        return any(isinstance(e, KeyboardInterrupt) for e in leaves) and all(
            isinstance(e, (KeyboardInterrupt, trio.Cancelled)) for e in leaves
        )
    return isinstance(exc, KeyboardInterrupt)


def first_interrupt(exc: BaseException) -> BaseException:
    """The first KeyboardInterrupt in ``exc`` (itself when it is one)."""
    for leaf in _leaves(exc):
        if isinstance(leaf, KeyboardInterrupt):
            return leaf
    return exc


def _leaves(exc: BaseException) -> Any:
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            yield from _leaves(e)
    else:
        yield exc
