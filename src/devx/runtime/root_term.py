"""SIGTERM to a root: the tree ends as on a cancel, then the process dies of the signal.

Left at its default action, a SIGTERM (``timeout``, ``docker stop``, a CI job's kill)
ends the root at once: its children exit by themselves (they watch their parent), but
the root's own telemetry (the tree's span, its actor span, an open hold) never reaches
the file or the exporter, and ``devx timeline`` can only say that the root died.

So, while a root runs and only where the program left SIGTERM at its default: the first
SIGTERM cancels the root actor (its body, then its subtree, gracefully, as
``actor.cancel()`` does), telemetry is flushed on the way out, and when
``open_root_actor`` has unwound the process re-raises the signal with the default action:
it still dies of SIGTERM (exit status 143 in a shell; nothing after ``trio.run`` runs),
later by the teardown. A loop that does not take the cancel within ``DEVX_CANCEL_GRACE``
(busy in sync code), or a second SIGTERM, ends the process at once as before (children
SIGKILLed, its telemetry's open spans ended and flushed, a line on stderr, exit code 143).
Not within a child's :func:`~devx.runtime.lifeline.react_wait`: that one is short to
beat the parent's SIGKILL, and nobody SIGKILLs a root on a timer of devx's, so a root
whose loop runs a sync chunk longer than a second still ends gracefully (its
``finally:``, its children's) when the grace allows it. A program with its own SIGTERM
handler, or a root opened outside the main thread, is left alone.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import trio

from ..core import schema, settings
from . import lifeline

SIGTERM = signal.SIGTERM

_current: RootTerm | None = None  # the handler of this process's root run, while installed


def sigterm_received() -> bool:
    """A SIGTERM came to this process's root (its tree is ending): what a wait that
    blocks the root's loop, so that the cancel cannot reach it, looks at (a REPL's
    wait for `devx attach`)."""
    term = _current
    return term is not None and term.got


class RootTerm:
    """The handler of one root's run; :meth:`install` returns ``None`` where it does
    not apply."""

    def __init__(
        self,
        path: str,
        cancel: Callable[[str], None],
        kill_children: Callable[[], None],
        term_children: Callable[[], list[int]] | None = None,
    ):
        self.path, self.cancel, self.kill_children = path, cancel, kill_children
        self.term_children = term_children
        self.token = trio.lowlevel.current_trio_token()
        self.owner = os.getpid()
        self.got = False  # a SIGTERM came: re-raise it when the root has unwound
        self.reacted = threading.Event()  # the loop ran the cancel
        # how long the loop has to react (run the cancel) before the process ends
        # itself: the whole grace, not a child's lifeline.react_wait (see above); read
        # now: the handler may run after the tree's settings are uninstalled
        self.grace = settings.current().cancel_grace

    @classmethod
    def install(
        cls,
        path: str,
        cancel: Callable[[str], None],
        kill_children: Callable[[], None],
        term_children: Callable[[], list[int]] | None = None,
    ) -> RootTerm | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            if signal.getsignal(SIGTERM) is not signal.SIG_DFL:
                return None  # the program's own handler (or SIG_IGN): its call
            term = cls(path, cancel, kill_children, term_children)
            signal.signal(SIGTERM, term._handler)
        except (ValueError, OSError):
            return None
        global _current
        _current = term
        return term

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # runs in the main thread between bytecodes, also while the loop is blocked
        if os.getpid() != self.owner:  # a process the user forked: no tree there
            signal.signal(SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), SIGTERM)
            return
        if self.got:
            self._exit_now("a second SIGTERM")
        self.got = True
        grace = self.grace
        try:  # trio's entry queue is safe to call from a signal handler
            self.token.run_sync_soon(self._cancel)
        except trio.RunFinishedError:  # the loop is over: we are on the way out anyway
            self.reacted.set()
            return
        # _thread, not threading: Thread.start() takes threading's own lock, which
        # the main thread (where this handler runs) may be holding right now
        _thread.start_new_thread(self._late, (grace,))

    def _cancel(self) -> None:
        self.reacted.set()
        self.cancel(schema.CANCELLED_BY_SIGTERM)

    def _late(self, grace: float) -> None:
        with contextlib.suppress(Exception):  # the process's signals are the main thread's
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        if not self.reacted.wait(grace):
            self._exit_now(
                f"SIGTERM, and its loop did not react within {grace:g}s "
                "(blocked in sync code, or at a REPL prompt?)"
            )

    def _exit_now(self, why: str) -> None:
        lifeline.exit_now(
            self.path, why, self.kill_children, 128 + SIGTERM, term_children=self.term_children
        )

    def restore(self) -> None:
        """The root has unwound: give SIGTERM back to the program and, when one came,
        die of it now, with everything devx had to say written out."""
        global _current
        if _current is self:
            _current = None
        try:
            if signal.getsignal(SIGTERM) == self._handler:
                signal.signal(SIGTERM, signal.SIG_DFL)
        except (ValueError, OSError):
            return
        if not self.got or os.getpid() != self.owner:
            return
        from . import console

        console.drain(timeout=0.5)
        os.kill(os.getpid(), SIGTERM)
