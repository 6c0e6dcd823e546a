"""Where a live REPL stands now, told to the root's lock as the user steps.

A hold's record (its ``Requester.where``: what ``devx ps``, the lock file, the
``waiters`` of other REPLs and the release's telemetry show) named the line the REPL
first stopped at; ``n``/``s``/``until`` moved the REPL and the record stayed behind.
The REPL now reports each new stop line at its prompt (:func:`report`), and the root
updates the hold (:meth:`~devx.debug.lock.TTYLock.moved`) and publishes it like any
change of the lock.

How a report travels: a child's REPL blocks its loop (a task's) or runs beside it (a
thread's), so the report is a datagram to the root's report socket (the one ctrl-c
presses use, :func:`devx.debug.sigint.serve_presses`), sent from the REPL's thread,
never through the loop; the root's own REPL updates the lock in place (on the loop's
thread, which it blocks: the lock file is written ahead by a helper thread), or
through the loop from another thread. A report that cannot go is dropped: only a
courtesy to the readers, never the REPL's problem.

Telemetry: not an event per move (stepping through a loop makes hundreds); the REPL
span's end says where the REPL was left and after how many stops
(:data:`~devx.core.schema.REPL_LEFT_AT`, :data:`~devx.core.schema.REPL_STOPS`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING, Any

import msgspec

from .lock_protocol import StopMoved

if TYPE_CHECKING:
    from .session import Session

MAX_WHERE = 1000  # characters of a location a report carries (a datagram stays small)


def report(session: Session, where: str) -> None:
    """``session``'s REPL stands at ``where`` now (its hold granted): tell the root."""
    hold_id = session.hold_id
    if not hold_id:
        return
    where = where[:MAX_WHERE]
    lock = session._root_lock
    if lock is not None:
        _in_root(session, lock, hold_id, where)
        return
    from .sigint import press_path

    path = press_path(session.actor.root_uid.uuid)
    if path is None:
        return
    from .attach_protocol import unix_address

    data = msgspec.json.encode(StopMoved(hold_id=hold_id, where=where))
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        sock.setblocking(False)
        unix_address(path, lambda addr: sock.sendto(data, addr))


def _in_root(session: Session, lock: Any, hold_id: int, where: str) -> None:
    from . import lock_file

    if threading.get_ident() == session._loop_thread:  # the REPL blocks the root's loop
        if lock.moved(hold_id, where):
            lock_file.write_ahead(lock)
        return
    token = session.actor.trio_token
    if token is not None:
        with contextlib.suppress(Exception):  # (the root's loop has ended)
            token.run_sync_soon(lock.moved, hold_id, where)


def received(data: bytes) -> bool:
    """In the root: a report datagram (a JSON :class:`StopMoved`); False when it is
    not one (a ctrl-c press is a bare hold id) or names no current hold."""
    if not data.startswith(b"{"):
        return False
    from .lock import root_lock

    try:
        moved = msgspec.json.decode(data, type=StopMoved)
    except msgspec.DecodeError:
        return True  # a report, malformed: dropped
    with contextlib.suppress(RuntimeError):  # (not the root any more)
        root_lock().moved(moved.hold_id, moved.where)
    return True
