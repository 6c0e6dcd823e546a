"""SIGINT while debugging. ctrl-c reaches every process of the terminal's process
group at once, so each actor decides for itself:

- the actor with the live REPL: shielded; the REPL says so and prompts again;
- the root, while any actor holds the TTY lock: shielded (silently; the REPL
  holder speaks);
- the root with no REPL anywhere: trio's usual KeyboardInterrupt, which tears the
  tree down over IPC;
- any other child: ignored, the root cancels it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..runtime.actor import Actor
from . import session as _session
from . import tree_lock

__tracebackhide__ = True

Handler = Callable[[int, FrameType | None], Any] | int | None


def install(actor: Actor) -> Handler:
    """Install the REPL-aware handler; returns the previous one for :func:`restore`."""
    prev = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        _on_sigint(actor, prev, signum, frame)

    signal.signal(signal.SIGINT, handler)
    return prev


def restore(prev: Handler) -> None:
    if prev is not None:
        signal.signal(signal.SIGINT, prev)


def _on_sigint(actor: Actor, prev: Handler, signum: int, frame: FrameType | None) -> None:
    live = _session.current
    if live is not None and live.pdb is not None:
        os.write(
            1,
            f"\n[devx] ctrl-c shielded: {actor.path} is in the REPL "
            "('c' to continue, 'q' to quit)\n".encode(),
        )
        if live.pdb.live and live.repl_thread in (None, threading.get_ident()):
            raise KeyboardInterrupt  # pdb's command loop catches it and prompts again
        return  # (a REPL in another thread: raising here would hit the trio loop)
    if not actor.is_root:
        return
    if live is not None or tree_lock.view.busy:
        return  # some actor is (about to be) in the REPL
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        raise KeyboardInterrupt
