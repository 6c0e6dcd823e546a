"""The TTY lock protocol, written down once as types.

Every actor that wants the terminal (a pause, a crash REPL, a sync pause) sends a
:class:`LockRequest` to the root. The root queues requests in the order they were
made (``requested_at``: ``time.monotonic()`` of the requester, one clock for every
process of the machine), grants one at a time with a :class:`LockGrant` carrying a
**hold id** it minted, and frees the hold on an explicit :class:`LockRelease` (or
when the holder's channel breaks: the holder died). Every change of who holds or
waits is published to every actor of the tree as a :class:`LockState`, which they
use to shield ctrl-c, hold their own terminal output back, and never tear down an
actor whose REPL is live.

Over IPC (see :mod:`devx.debug.lock`) these travel as RPC arguments and stream
items, converted back into these types strictly on arrival.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..core import schema

# how a hold ended, as the release and the telemetry record it
ReleaseHow = Literal[
    "continue",  # `c` (or the REPL was skipped: no terminal)
    "quit",  # `q` / ctrl-d
    "stepped_out",  # stepping left the user's code
    "yielded",  # a step ran on while others waited: its next stop queues again
    "done",  # a post-mortem or no-REPL hold ended by the program
    "cancelled",  # the waiting or holding task was cancelled
    "holder_lost",  # the holder's channel broke (it died): root side only
    "switched",  # `switch`: another waiter has the terminal, this REPL is next in line
    # the task (or thread) that held it ended with its REPL still live, e.g. a step
    # whose stop never came (tracing turned off under it): see debug.holdguard
    "owner_ended",
]


class Requester(msgspec.Struct, frozen=True):
    """Who asks for (or holds) the terminal, and why."""

    name: str
    uuid: str
    path: str
    pid: int
    reason: str  # pause | crash | sync_pause | thread | breakpoint
    thread: str = ""  # a sync pause from another thread: its name
    where: str = ""  # the user's code that stopped: "file.py:12 in fn()"

    def attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            schema.HOLDER_PATH: self.path,
            schema.HOLDER_UID: f"{self.name}@{self.uuid[:8]}",
            schema.HOLDER_PID: self.pid,
            schema.REASON: self.reason,
        }
        if self.where:
            attrs[schema.HOLDER_WHERE] = self.where
        return attrs


class LockRequest(msgspec.Struct, frozen=True):
    request_id: str  # unique per requester: "<uuid8>-<n>"
    requester: Requester
    requested_at: float  # time.monotonic() in the requester: the FIFO key


class LockGrant(msgspec.Struct, frozen=True):
    hold_id: int  # minted by the root, > 0
    request_id: str
    wait_s: float
    queued: int  # requests still waiting behind this one
    # those requests, in the order they will be served (what the banner names)
    waiters: tuple[LockRequest, ...] = ()
    # the tree path of the actor whose user quit a REPL ("": nobody): after a quit the
    # tree ends quietly, so the holder opens no REPL (a crash rides along the quit)
    quit_by: str = ""


class LockRelease(msgspec.Struct, frozen=True):
    hold_id: int
    how: ReleaseHow = "continue"


class StopMoved(msgspec.Struct, frozen=True):
    """A holder's REPL stands at a new line (``n``/``s`` moved it): the hold's
    ``Requester.where`` follows (see :mod:`devx.debug.stop_moves`)."""

    hold_id: int
    where: str  # "file.py:12 in fn()"


class SwitchReply(msgspec.Struct, frozen=True):
    """The root's first answer to a ``switch``: refused (why), or done (the target
    holds the terminal and the switcher's new request is next in line)."""

    refused: str = ""
    to: str = ""  # the tree path of the REPL that has the terminal now


class LockState(msgspec.Struct, frozen=True):
    """The tree's lock as the root sees it; ``seq`` grows with every change.
    Times are ``time.monotonic()`` (one clock for every process of the machine)."""

    seq: int = 0
    hold_id: int = 0  # 0: nobody holds it
    holder: Requester | None = None
    waiting: int = 0
    held_since: float = 0.0  # when the holder got the terminal
    waiters: tuple[LockRequest, ...] = ()  # the queue, next to be served first
    quit_by: str = ""  # as in LockGrant: set for good once a user quit a REPL
    # the tree is ending with no REPL (three ctrl-c with no prompt on screen, see
    # devx.debug.sigint): the hold was ended, the queue dropped, nothing is granted
    closed: bool = False

    @property
    def busy(self) -> bool:
        """Somebody holds the terminal or waits for it."""
        return self.hold_id != 0 or self.waiting > 0


def decode(obj: Any, typ: type[Any]) -> Any:
    """An RPC argument or stream item (plain builtins on the wire) as ``typ``,
    strictly: a malformed message raises ``msgspec.ValidationError``."""
    return msgspec.convert(obj, typ)


def encode(msg: msgspec.Struct) -> Any:
    return msgspec.to_builtins(msg)
