"""ctrl-c storms: the first ctrl-c that stops the tree is the only one.

Once a SIGINT has been handed to trio (a ``KeyboardInterrupt`` on its way through
the tree's teardown), further SIGINTs are dropped until the root exits: each would
otherwise raise another ``KeyboardInterrupt`` wherever the root happens to be (a
child being stopped, the telemetry flush), cutting the teardown short and ending in
a group of them. The teardown is bounded anyway (cancel grace, then SIGTERM, then
SIGKILL), so a second ctrl-c has nothing left to hurry.

After a tree stopped by ctrl-c, the process keeps a handler that drops the tail of the
storm while the interrupt is printed and the interpreter exits. A program that catches
that KeyboardInterrupt and goes on: the next devx root puts the default handler back
(ctrl-c works again as one ctrl-c); a plain ``trio.run`` started meanwhile sees a
handler that is not Python's default, so trio does not install its own ctrl-c
handling for that run and ctrl-c raises a plain KeyboardInterrupt there.

The guard sits under the debug layer's SIGINT handler (installed later, inside the
actor's hooks), so it only ever sees the SIGINTs meant to stop the tree: ctrl-c at a
live REPL never reaches it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
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
        if prev is _storm_tail:
            prev = signal.default_int_handler  # an earlier tree's storm is over
        if prev in (signal.SIG_IGN, None):
            return self
        self._prev = prev
        signal.signal(signal.SIGINT, self._handler)
        self._installed = True
        return self

    def restore(self) -> None:
        """Put the previous handler back, unless a storm is on its way out.

        When the tree stopped on a ctrl-c, the KeyboardInterrupt still has to leave
        ``trio.run`` and be printed; a late SIGINT of the same storm would raise a
        second one in the middle of that (or during interpreter shutdown). Until a
        new trio loop runs (a program that caught the interrupt and goes on), such
        SIGINTs are dropped.
        """
        if self._installed and signal.getsignal(signal.SIGINT) == self._handler:
            if self.stopping:
                _storm_tail.run = _trio_run_id()
                signal.signal(signal.SIGINT, _storm_tail)
            else:
                signal.signal(signal.SIGINT, self._prev)
        self._installed = False


def _trio_run_id() -> object | None:
    """The running trio loop's token (None outside one): tells a new run apart."""
    import trio

    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


class _StormTail:
    """SIGINT handler left behind by a root stopped by ctrl-c (see ``restore``)."""

    run: object | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        current = _trio_run_id()
        if current is None or current is self.run:
            return  # the stopped tree's run, or no loop: the tail of that storm
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a new run
        raise KeyboardInterrupt


_storm_tail = _StormTail()


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
