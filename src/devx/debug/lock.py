"""The tree-global TTY lock, served by the root actor (protocol types in
:mod:`devx.debug.lock_protocol`).

The root keeps one queue of requests ordered by when they were made, grants one hold
at a time (minting its hold id) and publishes every change as a ``LockState``:
locally to its own :mod:`~devx.debug.tree_lock` view, and to every other actor of
the tree through :func:`follow_state` streams. A hold ends on an explicit release
(:func:`release_hold`) or when the holder's channel breaks (it died); a grant goes
straight from one holder to the next, so the tree never sees the terminal free in
between two queued REPLs.

RPC endpoints for children (module enabled in the root by the debug boot hook):
:func:`serve_hold` (a stream: the grant, then the end of the hold), :func:`serve_switch`,
:func:`release_hold`, :func:`follow_state`, :func:`lock_status`.
"""

from __future__ import annotations

import bisect
import contextvars
import itertools
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from ..core import events, schema
from .lock_protocol import (
    LockGrant,
    LockRelease,
    LockRequest,
    LockState,
    ReleaseHow,
    Requester,
    SwitchReply,
    decode,
    encode,
)

__tracebackhide__ = True

log = logging.getLogger("devx.debug")

# a release from a REPL that blocked the root's loop grants no later than this: the
# channel readers (and the calls they start) run until the root is idle first
SETTLE_MAX_S = 0.02
# and, at that bound, after this many passes of its own: a reader woken by the bytes
# (the pass after the REPL), the call it starts (the next), that call queuing at once
SETTLE_PASSES = 3


async def let_readers_run() -> None:
    """Let the root's loop run until its channel readers read what waits in their
    sockets and the calls they start ran (the root idle), at most ``SETTLE_MAX_S``
    (then ``SETTLE_PASSES`` passes more): after a REPL that blocked the loop, the
    lock then holds every request the children made meanwhile."""
    # trio.testing's wait_all_tasks_blocked (that module imports pytest when it
    # is installed, ~0.1 s): no runnable task, and no socket ready, in the root.
    # Taken from trio's core; a trio that moved it still has the public one
    try:
        from trio._core._run import wait_all_tasks_blocked
    except ImportError:  # pragma: no cover (the trio this release is tested with)
        from trio.testing import wait_all_tasks_blocked

    with trio.move_on_after(SETTLE_MAX_S) as waited:
        await wait_all_tasks_blocked()
    if waited.cancelled_caught:  # a busy root (or this process descheduled):
        for _ in range(SETTLE_PASSES):  # the readers woke with this task at the
            await trio.lowlevel.checkpoint()  # latest; a pass more per hop


# kept for callers of the first version of this module
Holder = Requester


class Hold:
    """One request's life at the root: queued, granted, released."""

    def __init__(self, request: LockRequest, seq: int) -> None:
        self.request = request
        self.key = (request.requested_at, seq)
        self.arrived = time.monotonic()
        self.hold_id = 0
        self.granted = trio.Event()
        self.grant: LockGrant | None = None
        self.granted_wall = 0.0
        self.granted_at = 0.0  # time.monotonic() at the grant
        self.released = trio.Event()
        self.how: ReleaseHow | None = None
        # sends the encoded grant to a child at once (its serving stream's ItemNow),
        # and whether it did (see _grant_next)
        self.deliver: Callable[[dict[str, Any]], bool] | None = None
        self.delivered = False

    @property
    def requester(self) -> Requester:
        return self.request.requester


class TTYLock:
    """Root-side lock state: the FIFO queue, the current hold, its subscribers."""

    def __init__(
        self, on_change: Callable[[LockState], None] | None = None, saved_tty: Any = None
    ) -> None:
        self._queue: list[Hold] = []
        self.current: Hold | None = None
        self.grants = 0
        self._hold_ids = itertools.count(1)
        self._arrivals = itertools.count()
        self._fronts = itertools.count(1)  # see switch(): later switches go in front
        self.state = LockState()
        self._changed = trio.Event()
        self._on_change = on_change
        self._by_id: dict[int, Hold] = {}
        # the last hold that ended as `cancelled` (its holder abandoned its step on a
        # third ctrl-c, :mod:`devx.debug.sigint`): its presses still count, since the
        # holder's release may come in ahead of its last press's datagram
        self.last_cancelled = 0
        # the terminal settings the root saved at boot: put back when a holder dies
        # in its REPL (it may leave the terminal without echo)
        self._saved_tty = saved_tty
        # the actor whose user quit a REPL: from then on every grant says so (no REPL)
        self.quit_by = ""
        self.closed = False  # see close()
        # a release waits for the readers before it grants (see _settle): until then
        # nothing is granted and the state is not pushed (the tree never sees the
        # terminal free in between)
        self._settling = False

    # --- what callers read -------------------------------------------------------

    @property
    def holder(self) -> Requester | None:
        return self.current.requester if self.current is not None else None

    @property
    def waiting(self) -> list[Requester]:
        return [h.requester for h in self._queue]

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self._queue)

    async def wait_idle(self) -> None:
        """Until nobody holds or waits for the lock."""
        while self.busy:
            await self.changed()

    async def changed(self) -> None:
        await self._changed.wait()

    # --- the queue ---------------------------------------------------------------

    def _publish(self) -> None:
        if self._settling:  # pushed once settled, with the grant
            return
        cur = self.current
        self.state = LockState(
            seq=self.state.seq + 1,
            hold_id=cur.hold_id if cur is not None else 0,
            holder=cur.requester if cur is not None else None,
            waiting=len(self._queue),
            held_since=cur.granted_at if cur is not None else 0.0,
            waiters=tuple(h.request for h in self._queue),
            quit_by=self.quit_by,
            closed=self.closed,
        )
        self._changed.set()
        self._changed = trio.Event()
        if self._on_change is not None:
            self._on_change(self.state)

    def _grant_next(self) -> None:
        if self.current is not None or not self._queue or self.closed or self._settling:
            return
        hold = self._queue.pop(0)
        hold.hold_id = next(self._hold_ids)
        hold.granted_wall = time.time()
        hold.granted_at = time.monotonic()
        wait_s = hold.granted_at - hold.arrived
        waiters = tuple(h.request for h in self._queue)
        hold.grant = LockGrant(
            hold_id=hold.hold_id,
            request_id=hold.request.request_id,
            wait_s=wait_s,
            queued=len(waiters),
            waiters=waiters,
            quit_by=self.quit_by,
        )
        self.current = hold
        self._by_id[hold.hold_id] = hold
        self.grants += 1
        hold.granted.set()
        if hold.deliver is not None:
            # a child's grant goes out now, from the release that frees the terminal,
            # ahead of the pushes and replies that release wakes (a pass later, in
            # trio's order: the next REPL's prompt waited behind one to four writes)
            try:
                hold.delivered = hold.deliver(encode(hold.grant))
            except Exception:  # never the lock's problem: its task yields it instead
                hold.delivered = False
        events.event(
            schema.LOCK_GRANTED,
            **{
                schema.HOLD_ID: hold.hold_id,
                schema.REQUEST_ID: hold.request.request_id,
                schema.WAIT_S: wait_s,
                schema.QUEUED: len(waiters),
                schema.WAITERS: [w.requester.path for w in waiters],
            },
            **hold.requester.attrs(),
        )

    def _end(
        self, hold: Hold, how: ReleaseHow, *, to: str = "", readers_first: bool = False
    ) -> None:
        if hold is not self.current:
            return
        held = time.time() - hold.granted_wall
        hold.how = how
        self.current = None
        self._by_id.pop(hold.hold_id, None)
        hold.released.set()
        if how == "cancelled":
            self.last_cancelled = hold.hold_id
        if how == "quit" and not self.quit_by:
            self.quit_by = hold.requester.path
        if how == "holder_lost":
            from .terminal import restore_tty

            restore_tty(self._saved_tty)
        events.event(
            schema.LOCK_RELEASED,
            **{schema.HOLD_ID: hold.hold_id, schema.HELD_S: held, schema.RELEASE_HOW: how},
            **({schema.SWITCHED_TO: to} if to else {}),
            **hold.requester.attrs(),
        )
        if readers_first:
            self._settle()
        else:
            self._grant_next()  # straight to the next holder: no gap in between

    def _settle(self) -> None:
        """The root's own REPL blocked its loop: requests the children made meanwhile
        wait unread in its sockets, while a request of the root's made after the
        REPL (its code went on to its next pause, a thread's) may be queued already.
        The grant waits until the readers had their pass and the calls they start
        ran (the root idle, at most ``SETTLE_MAX_S``): the queue then holds every
        request made before the release, and serves them in the order they were made."""
        if self._settling:
            return
        self._settling = True
        try:
            trio.lowlevel.spawn_system_task(
                self._settled, name="devx.debug.lock.settle", context=contextvars.copy_context()
            )
        except RuntimeError:  # no trio run (the root is gone): nothing to read
            self._settling = False
            self._grant_next()

    async def _settled(self) -> None:
        try:
            await let_readers_run()
        finally:
            self._settling = False
            try:
                self._grant_next()
                self._publish()
            except Exception:  # a system task's error would end the root's run
                log.exception("granting the TTY lock after a root REPL failed")

    def close(self) -> None:
        """The tree ends with no REPL (the ctrl-c escape, :mod:`devx.debug.sigint`):
        the current hold ends as ``cancelled``, the waiters are dropped (their
        requests wait until the teardown cancels them) and nothing is granted any
        more, so no teardown waits on the terminal (a holder stuck in sync code
        would never release it) and no REPL opens on the way out."""
        if self.closed:
            return
        self.closed = True
        self._settling = False  # (nothing is granted any more)
        self._queue.clear()
        if self.current is not None:
            self._end(self.current, "cancelled")
        self._publish()

    def release(self, release: LockRelease, *, readers_first: bool = False) -> bool:
        """End hold ``release.hold_id``; False when no such hold is current.
        ``readers_first``: the holder's REPL blocked this loop (the root's own): the
        next grant waits for the requests made meanwhile (:meth:`_settle`)."""
        hold = self._by_id.get(release.hold_id)
        if hold is None:
            return False
        self._end(hold, release.how, readers_first=readers_first)
        self._publish()
        return True

    def switch(self, hold_id: int, target: str, back: LockRequest) -> Hold | str:
        """``switch`` in the REPL of hold ``hold_id``: the waiting request
        ``target`` (a request id) gets the terminal now, and ``back`` (the switcher's
        new request, for the same stop) is queued right behind it, ahead of everyone
        else; the others keep their order. A switch made by a switched-to REPL goes
        in front of earlier ones: they come back in reverse order, like a stack.
        Returns the queued hold of ``back`` (serve it with :meth:`hold`), or why not."""
        cur = self._by_id.get(hold_id)
        if cur is None or cur is not self.current:
            return "this REPL does not hold the terminal"
        found = next((h for h in self._queue if h.request.request_id == target), None)
        if found is None:
            return "that REPL is not waiting for the terminal any more (see `waiters`)"
        again = Hold(back, next(self._arrivals))
        first, second = next(self._fronts), next(self._fronts)
        found.key, again.key = (-math.inf, -second), (-math.inf, -first)
        self._queue.remove(found)
        self._queue[:0] = [found, again]
        self._end(cur, "switched", to=found.requester.path)  # grants `found`
        self._publish()
        return again

    def moved(self, hold_id: int, where: str) -> bool:
        """The REPL of hold ``hold_id`` stands at ``where`` now (a step moved it):
        the current hold's record says so from here on (``devx ps``, the waiters,
        its release's record). False when that hold is not current or did not move."""
        cur = self.current
        if cur is None or cur.hold_id != hold_id or cur.requester.where == where:
            return False
        requester = msgspec.structs.replace(cur.requester, where=where)
        cur.request = msgspec.structs.replace(cur.request, requester=requester)
        self._publish()
        return True

    def drop(self, hold: Hold) -> None:
        """Forget ``hold`` (its requester went away before :meth:`hold` served it)."""
        if hold in self._queue:
            self._queue.remove(hold)
        elif hold is self.current:
            self._end(hold, "holder_lost")
        self._publish()

    @asynccontextmanager
    async def hold(
        self,
        request: LockRequest,
        *,
        queued: Hold | None = None,
        here: bool = True,
        deliver: Callable[[dict[str, Any]], bool] | None = None,
        releasing: LockRelease | None = None,
    ) -> AsyncIterator[Hold]:
        """Queue ``request`` (or take ``queued``, already in the queue), wait for its
        grant (cancellable), yield the hold; the hold ends on :meth:`release`, or
        here when the block exits (cancelled: the requester went away). ``here``:
        the holder is in the root (its REPL blocks this loop); False for a child's,
        served over IPC. ``deliver``: sends a grant that comes later (another hold's
        release) to the child at once; ``Hold.delivered`` says whether it did.
        ``releasing``: the requester's previous hold, which the request carries
        (the code after its `c` reached this request before its release went out):
        released once this request is queued, as a release that came right after."""
        hold = queued
        if self.closed:  # the tree is ending: wait for the teardown's cancel
            await trio.sleep_forever()
        if hold is None:
            hold = Hold(request, next(self._arrivals))
            bisect.insort(self._queue, hold, key=lambda h: h.key)
            if releasing is None or not self.release(releasing):  # (grants, publishes)
                self._grant_next()
                self._publish()
        hold.deliver = deliver
        try:
            # a checkpoint even when granted at once: every follower woken by the
            # change pushes the new state first. The root's own REPL blocks its loop
            # as soon as it is granted; without this pass the children could learn
            # of it only after that REPL (their output is then not held back). A
            # child's REPL blocks only the child: its grant goes out first
            if here:
                await hold.granted.wait()
                # the followers woken by the grant may run in the same pass as this
                # task (both woken by one step, run in either order): one pass more,
                # and every one of them has pushed (this task used to be woken a pass
                # after them, through the holding task's Nursery.start)
                await trio.lowlevel.checkpoint()
            elif not hold.granted.is_set():
                await hold.granted.wait()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
            yield hold
        finally:
            # a hold released already changed the state then: nothing to push again
            # (a push to every actor of the tree per hold)
            if hold in self._queue:
                self._queue.remove(hold)
                self._publish()
            elif not hold.released.is_set():
                self._end(hold, "cancelled")
                self._publish()


_root_lock: TTYLock | None = None


def install(lock: TTYLock | None) -> None:
    global _root_lock
    _root_lock = lock


def root_lock() -> TTYLock:
    if _root_lock is None:
        raise RuntimeError("the TTY lock lives in the root actor, and this is not it")
    return _root_lock


# --- RPC endpoints, served by the root --------------------------------------------


async def serve_hold(
    request: dict[str, Any], release: dict[str, Any] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """One hold for a child: yields its ``LockGrant`` once granted, then ends (a
    normal end of stream) when the child releases it with :func:`release_hold`. A
    child that dies while waiting or holding cancels this call: the hold ends as
    ``holder_lost``. ``release``: the child's previous hold (a ``LockRelease``),
    released once this request is queued."""
    req = decode(request, LockRequest)
    releasing = decode(release, LockRelease) if release is not None else None
    async for item in _serve(root_lock(), req, None, releasing):
        yield item


async def serve_switch(
    hold_id: int, target: str, request: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """``switch`` for a child's REPL holding ``hold_id``: yields a ``SwitchReply``;
    when done, the switcher's new request (``request``) is served as
    :func:`serve_hold` serves one: its grant once the switched-to REPL is done,
    then the end of the hold."""
    req = decode(request, LockRequest)
    lock = root_lock()
    again = lock.switch(hold_id, target, req)
    if isinstance(again, str):
        yield encode(SwitchReply(refused=again))
        return
    assert lock.holder is not None
    served = False
    try:
        yield encode(SwitchReply(to=lock.holder.path))
        served = True
        async for item in _serve(lock, req, again):
            yield item
    finally:
        if not served:  # the switcher went away before its request was served
            lock.drop(again)


async def _serve(
    lock: TTYLock, req: LockRequest, queued: Hold | None, releasing: LockRelease | None = None
) -> AsyncIterator[dict[str, Any]]:
    from ..runtime.context import item_now

    deliver = item_now.get()
    chan = deliver.chan if deliver is not None else None
    granted = False
    try:
        async with lock.hold(
            req, queued=queued, here=False, deliver=deliver, releasing=releasing
        ) as hold:
            granted = True
            assert hold.grant is not None
            try:
                if not hold.delivered:
                    yield encode(hold.grant)
                elif deliver is not None:  # a grant the socket took in part: the rest now
                    await deliver.chan.flush()
                await hold.released.wait()
            finally:
                if not hold.released.is_set():  # no release came: the holder is gone
                    if chan is not None and chan.closed:  # (not the root's own teardown)
                        _say_gone(req.requester)
                    lock.release(LockRelease(hold_id=hold.hold_id, how="holder_lost"))
    finally:
        if not granted and chan is not None and chan.closed:  # it went away queued
            _say_gone(req.requester, waiting=True)


def _say_gone(who: Requester, *, waiting: bool = False) -> None:
    """A child went away holding the terminal (killed at its prompt): said before the
    next banner, which came up under the dead prompt with no word of why (its
    ActorExited goes to the code waiting on it, which a queued REPL may keep waiting).
    Not when the root itself is ending the call (an outside cancel, a SIGTERM): the
    holder is there yet, and its end is said where it comes. ``waiting``: it went
    away queued, while another REPL is live: said once that REPL is done (through
    the console gate), as it only left `waiters` before."""
    from . import terminal

    if waiting:
        from ..runtime import console

        text = (
            f"[devx] {who.path} (pid {who.pid}) went away while it waited for the "
            f"terminal ({who.reason})\n"
        )
        console.write(terminal.fit(text, terminal.columns(sys.stderr)))
        return

    terminal.write(
        f"\n[devx] {who.path} (pid {who.pid}) went away holding the terminal "
        f"({who.reason}): released (holder_lost)\n"
    )


def end_tree_by_quit(path: str) -> None:
    """The root: a child says its user's quit (in actor ``path``) ended a call of
    another tree's actor: this tree ends as on a quit (``Actor.end_by_quit``)."""
    from ..runtime.actor import current_actor

    actor = current_actor(err_on_no_runtime=False)
    if actor is not None and actor.is_root:
        actor.end_by_quit(path)


def release_hold(release: dict[str, Any]) -> bool:
    """The explicit end of a hold (a ``LockRelease``)."""
    return root_lock().release(decode(release, LockRelease))


async def follow_state(after: int = -1) -> AsyncIterator[dict[str, Any]]:
    """Every ``LockState`` newer than ``after``, as it changes (coalesced: a slow
    follower gets the latest state, not every step in between)."""
    lock = root_lock()
    last = after
    while True:
        state = lock.state
        if state.seq != last:
            last = state.seq
            yield encode(state)
        else:
            await lock.changed()


def lock_status() -> dict[str, Any]:
    """Who holds the TTY and how many wait (a one-shot look; actors follow the
    state with :func:`follow_state`; ``state``: the whole ``LockState``)."""
    lock = root_lock()
    holder = lock.holder
    return {
        "hold_id": lock.state.hold_id,
        "holder": msgspec.to_builtins(holder) if holder else None,
        "waiting": len(lock.waiting),
        "state": encode(lock.state),
    }
