"""Who holds and who waits for the tree's terminal, in words: the grant banner, the
REPL's ``waiters`` command and ``devx ps`` say it the same way, from a
:class:`~devx.debug.lock_protocol.LockState` (or the waiters a grant carried).

Imports nothing heavy (the CLI uses it). Times are ``time.monotonic()``: one clock
for every process of the machine, so "waiting 2.9 s" is right in any of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from types import FrameType

from .lock_protocol import LockRequest, LockState, Requester


def code_location(frame: FrameType | None) -> str:
    """``file.py:12 in fn()`` for a frame (what a waiter is stopped at)."""
    if frame is None:
        return ""
    code = frame.f_code
    return f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}()"


def shielded_text(path: str) -> str:
    """What ctrl-c at a prompt says, on the terminal and in an attach client alike."""
    return f"[devx] ctrl-c shielded: {path} is in the REPL ('c' to continue, 'q' to quit)"


def who(req: Requester) -> str:
    """``root/a: pause at x.py:12 in f()`` (with the thread, if a thread asked)."""
    thread = f" thread {req.thread!r}" if req.thread else ""
    at = f" at {req.where}" if req.where else ""
    return f"{req.path}{thread}: {req.reason}{at}"


def waiter_lines(waiters: Sequence[LockRequest], now: float | None = None) -> list[str]:
    """One line per waiter, in the order they will be served."""
    now = time.monotonic() if now is None else now
    return [
        f"{i}. {who(w.requester)} (waiting {max(0.0, now - w.requested_at):.1f} s)"
        for i, w in enumerate(waiters, 1)
    ]


def banner_lines(waiters: Sequence[LockRequest], now: float | None = None) -> list[str]:
    """What a grant banner adds: the waiters known when it is printed."""
    if not waiters:
        return []
    head = (
        f"{len(waiters)} more waiting for the terminal, served in this order "
        "(`waiters` for the live queue):"
    )
    return [head, *(f"  {line}" for line in waiter_lines(waiters, now))]


def state_lines(state: LockState, now: float | None = None) -> list[str]:
    """The whole queue: the holder, then the waiters."""
    now = time.monotonic() if now is None else now
    if state.holder is None:
        lines = ["nobody holds the terminal"]
    else:
        held = f" (for {max(0.0, now - state.held_since):.1f} s)" if state.held_since else ""
        lines = [f"holder: {who(state.holder)}{held}"]
    if not state.waiters:
        return [*lines, "nobody waits for the terminal"]
    return [
        *lines,
        f"waiting ({len(state.waiters)}), served in this order:",
        *(f"  {line}" for line in waiter_lines(state.waiters, now)),
    ]
