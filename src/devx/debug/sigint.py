"""SIGINT while debugging. ctrl-c reaches every process of the terminal's process
group at once, so each actor decides for itself:

- the actor whose prompt is on screen: shielded; the REPL says so and prompts
  again (the only place that message is ever shown);
- the actor holding the TTY lock with no prompt on screen (a step runs): one line
  saying what the tree waits for (holder, waiters); the root counts such presses
  (a child holder reports them) and three within 2 s end the tree as one ctrl-c
  with no REPL would;
- the root, while a child holds the TTY lock: silent (the holder speaks);
- the root with no REPL anywhere: trio's usual KeyboardInterrupt, which tears the
  tree down over IPC;
- any other child: ignored, the root cancels it.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import trio

from ..runtime.actor import Actor
from . import door, tree_lock
from . import session as _session
from .lock_protocol import LockState

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


# ctrl-c presses with no prompt on screen while the tree waits on the terminal, as
# the root counts them (its own, and those its holding child reports): ESCAPE_PRESSES
# within ESCAPE_WINDOW_S end the tree as a ctrl-c with no REPL would
ESCAPE_PRESSES = 3
ESCAPE_WINDOW_S = 2.0
_presses: collections.deque[float] = collections.deque(maxlen=ESCAPE_PRESSES)
_forced = False  # the next SIGINT of the root ends the tree (see no_prompt_press)


def _on_sigint(actor: Actor, prev: Handler, signum: int, frame: FrameType | None) -> None:
    global _forced
    live = _session.current
    if live is not None and getattr(live.pdb, "switching", False):
        return  # its REPL gave the terminal away (`switch`): the one on screen speaks
    if live is not None and live.pdb is not None and live.pdb.live:
        os.write(
            1,
            f"\n[devx] ctrl-c shielded: {actor.path} is in the REPL "
            "('c' to continue, 'q' to quit)\n".encode(),
        )
        if live.repl_thread in (None, threading.get_ident()):
            raise KeyboardInterrupt  # pdb's command loop catches it and prompts again
        return  # (a REPL in another thread: raising here would hit the trio loop)
    state = tree_lock.view.state
    if actor.is_root and _forced:
        _forced = False
        _end_tree(prev, signum, frame)
        return
    if live is not None and live.grant is not None:
        # this actor holds the terminal, with no prompt on screen (a step runs)
        _say_waiting(actor, state)
        if not actor.is_root:
            _report_press(actor, live)
        elif _count_press():
            _abandon(actor, live)
            _end_tree(prev, signum, frame)
        return
    if not actor.is_root:
        return
    if live is not None or state.busy:
        if state.hold_id == 0 and live is None:  # queued, nobody holds: say why
            _say_waiting(actor, state)
            if _count_press():
                _end_tree(prev, signum, frame)
        return  # a child holds it: that child speaks (its prompt, or its step)
    _end_tree(prev, signum, frame)


def _end_tree(prev: Handler, signum: int, frame: FrameType | None) -> None:
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        raise KeyboardInterrupt


def _say_waiting(actor: Actor, state: LockState) -> None:
    holder = state.holder
    who = f"{holder.path} (pid {holder.pid})" if holder else "nobody yet"
    os.write(
        1,
        f"\n[devx] ctrl-c: no prompt is on screen; the terminal is held by {who}, "
        f"{state.waiting} REPL(s) waiting as last known ({ESCAPE_PRESSES} ctrl-c within "
        f"{ESCAPE_WINDOW_S:g} s end the tree)\n".encode(),
    )


def _count_press() -> bool:
    """One more press with no prompt on screen; True: the escape hatch fires."""
    now = time.monotonic()
    _presses.append(now)
    if len(_presses) == ESCAPE_PRESSES and now - _presses[0] <= ESCAPE_WINDOW_S:
        _presses.clear()
        return True
    return False


def _abandon(actor: Actor, live: Any) -> None:
    """The tree ends under a running step: stop tracing it (no prompt may come back
    while it unwinds) and free the terminal, without a REPL. Safe in a signal
    handler: the release itself runs on the loop."""
    import bdb

    pdb = live.pdb
    if pdb is not None:
        pdb.on_exit = None
        door.disown(pdb)
        bdb.Bdb.set_continue(pdb)
    token = actor.trio_token
    if token is not None:
        try:
            token.run_sync_soon(live.release, "cancelled")
        except trio.RunFinishedError:
            pass


def _report_press(actor: Actor, live: Any) -> None:
    """A child holding the terminal with no prompt: the root counts its presses
    (it cannot tell a child's prompt from its step) and says when to give up."""
    token = actor.trio_token
    if token is None:
        return
    hold_id = live.hold_id

    async def report() -> None:
        with trio.move_on_after(2):
            portal = await actor.root_portal()
            if await portal.run_from_ns("devx.debug.sigint", "no_prompt_press", hold_id=hold_id):
                _abandon(actor, live)

    def spawn() -> None:
        if actor._service is not None:
            actor._service.start_soon(report)

    try:
        token.run_sync_soon(spawn)
    except trio.RunFinishedError:
        pass


def no_prompt_press(hold_id: int) -> bool:
    """RPC, in the root: the holder of ``hold_id`` saw a ctrl-c with no prompt on
    screen. The third within the window ends the tree through the root's own
    SIGINT path (as one ctrl-c with no REPL would)."""
    global _forced
    if tree_lock.view.state.hold_id != hold_id or not _count_press():
        return False
    _forced = True
    os.kill(os.getpid(), signal.SIGINT)
    return True
