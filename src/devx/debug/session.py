"""A REPL session: one hold of the tree's TTY lock, from its grant until the user
leaves the REPL, with the banner, terminal-state care and telemetry around it.

The hold is kept by a small task in the actor's service nursery, so that leaving the
REPL (a plain synchronous ``continue``/``quit`` inside pdb, while the trio loop is
blocked) only has to set an event: the task then sends the explicit release, locally
in the root or over IPC to it (:mod:`devx.debug.lock_protocol`).

A session belongs to the trio task that opened it (or to the thread a sync pause
runs its REPL in). While its REPL is live (at the prompt, or stepping through the
user's code) that task may pause again, or crash: it then re-enters the same
session (:meth:`Session.open` returns it), never queueing behind its own hold.

A session may also be opened on behalf of another thread (``pause_from_sync`` from a
worker or bare thread: :mod:`devx.debug.sync`); the REPL then runs in that thread
while the actor's loop goes on, and :meth:`Session.release` hands the event over to
the loop thread instead of touching trio state from the wrong thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

import trio

from ..core import events, schema
from ..runtime import console
from ..runtime.actor import Actor
from ..runtime.errors import ChannelClosed
from . import holdguard, lock_file, stop_moves, terminal, tree_lock
from . import lock as tty_lock
from .lock_protocol import (
    LockGrant,
    LockRelease,
    LockRequest,
    ReleaseHow,
    Requester,
    SwitchReply,
)
from .lock_protocol import decode as decode_msg
from .lock_protocol import encode as encode_msg
from .repl import current_task
from .repl import prepare as prepare_repl
from .waiters import banner_lines, code_location

__tracebackhide__ = True

# the session live in this process (a REPL open, stepping, or about to open), if any
current: Session | None = None
tree_lock.local_repl_live = lambda: current is not None

# sessions whose lock-holding task still runs (it records the release on its way out)
_holding: set[Session] = set()

_request_ids = itertools.count(1)

# sessions of this process waiting for their grant: a step of this process that
# runs while one waits is waiting on the loop they share, so it yields at once
_local_waiters = 0

# sessions left (continue, quit) on the loop's thread whose release waits for the
# loop's next pass (Session._left): a request for the terminal made before then, by
# the code after `c` reaching its next pause, carries the release (_release_left)
_leaving: list[Session] = []

RELEASE_TIMEOUT = 5.0

# a banner is laid out in the terminal's width, at most 100 columns (terminal.width: a
# location that would pass it goes on a line of its own: `file.py:12 in fn()`, what
# waiters.code_location makes), and no line of it wraps mid-word (terminal.fit)
_LOCATION = re.compile(r"[^\s:]+:\d+ in \S+\(\)")
# at most this long for the line to another tree's caller whose call stopped at a REPL
# (a channel busy with a big frame): the REPL does not wait for a courtesy
TELL_CALLER_S = 0.5
READY_WAIT = 3.0  # at most this long before a prompt for the telemetry to load
# a hold's records go out this long after its grant: the banner and prompt are drawn
# first (an export then competed with them for the GIL), a person reads them after
PROMPT_FIRST_S = 0.03

# a step that runs this long without reaching its stop, while another REPL waits for
# the terminal, gives the terminal up: its stop queues again (see Session._held)
STEP_YIELD_S = 0.25

CRASH = schema.HOLD_CRASH  # the reason of a post-mortem's session (see Session.reentered)


async def drain_released(timeout: float = 1.0) -> None:
    """Let the holding tasks of sessions already left (continue/quit) finish releasing
    the lock, so the release is recorded before an exiting actor's telemetry closes
    (a crash REPL in the root ends right before the root exits)."""
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        for session in list(_holding):
            if session._done:
                await session._finished.wait()


def interactive() -> bool:
    """Whether a REPL can be had: stdin is a terminal that is not closed."""
    stdin = sys.stdin
    try:
        return stdin is not None and not stdin.closed and stdin.isatty()
    except (ValueError, OSError):
        return False


def frame_attrs(frame: FrameType | None) -> dict[str, Any]:
    if frame is None:
        return {}
    code = frame.f_code
    return {
        schema.CODE_FILE_PATH: code.co_filename,
        schema.CODE_LINE_NUMBER: frame.f_lineno,
        schema.CODE_FUNCTION_NAME: code.co_name,
    }


async def wait_for_thread_repl() -> None:
    """A REPL of one of this actor's threads (a plain thread's or a ``to_thread``
    job's pause) still live as the actor ends: wait until it is left. A task's REPL
    holds the actor's loop, so its actor's cancel waits for it anyway; a thread's
    leaves the loop serving, and the cancel (a parent's ``cancel_actor()``) ended the
    actor, and the process with it, under the user's prompt. Shielded: a REPL is the
    user's time (the root escalates against no actor while the lock is held); the
    holding task is a service, still running while the actor's hooks unwind."""
    live = current
    if live is None or live._done or live.owner_task is not None or live.grant is None:
        return
    with trio.CancelScope(shield=True):
        await live._finished.wait()


class Session:
    """One actor's turn at the terminal (one hold of the tree's TTY lock)."""

    def __init__(self, actor: Actor, reason: str, location: str = ""):
        self.actor = actor
        self.reason = reason
        # the user's code that asked: "file.py:12 in fn()", what the queue shows; once
        # the REPL is up, where it stands now (steps move it: see stood_at)
        self.location = location
        self.first_location = location
        self._stood = ""  # the stop line of the REPL's latest prompt
        self.stops = 0  # stop lines its prompts stood at, the first included
        self._announced = ("", "")  # the banner's what and hint (see announce_again)
        self.pdb: Any = None
        self.wait_s = 0.0
        self.grant: LockGrant | None = None
        self.request_id = f"{actor.uid.uuid[:8]}-{next(_request_ids)}"
        self.how: ReleaseHow = "continue"
        self._released = trio.Event()
        self.granted = trio.Event()  # the grant came (see switch_to)
        self._finished = trio.Event()  # the holding task is done: lock released
        self._done = False
        self._done_lock = threading.Lock()
        self._loop_thread = threading.get_ident()  # sessions are created on the trio thread
        # the task whose pause/crash opened it (None: a thread's sync pause)
        self.owner_task: Any = None
        # set by pause_from_sync when the REPL runs in another thread: named in the banner
        self.thread_name: str | None = None
        # set by pause_from_sync when the REPL runs in an asyncio task (infect_asyncio)
        self.asyncio_task_name: str | None = None
        # the thread the REPL runs in (SIGINT may only interrupt it if it is the main one)
        self.repl_thread: int | None = None
        self._wait_span: Any = None
        self._lock_span: Any = None
        self._repl_span: Any = None
        self._tty: Any = None
        self._tty_saved = False
        # while the REPL is live: a hard exit of this process (its parent died, or a
        # SIGTERM, while the prompt blocks the loop) puts the terminal back first
        self._unhook_tty: Callable[[], None] | None = None
        # the `devx attach` client's connection serving this hold's REPL (attach mode)
        self.attached: Any = None
        self.attach_ended = ""  # why a wait for `devx attach` gave up (see debug.attach)
        # where the release goes: the root's lock (in the root), or the portal to
        # the root; and the release call sent at once from release() (see _release_now)
        self._root_lock: tty_lock.TTYLock | None = None
        self._portal: Any = None
        self._release_call: Any = None
        self._release_sent = False
        self._context = contextvars.Context()
        # a line the banner adds under its first (the debugger the user called is not
        # the REPL that opens: devx.debug.pdb_habits)
        self.note = ""
        # called with how the REPL was left, once, after the terminal is restored (a
        # tool whose debugger was routed here does what its own `c` would: pytest
        # resumes its output capture)
        self.on_release: list[Callable[[ReleaseHow], None]] = []

    @property
    def where(self) -> str:
        return self.actor.path

    @property
    def hold_id(self) -> int:
        return self.grant.hold_id if self.grant is not None else 0

    def hold_attrs(self) -> dict[str, Any]:
        return {schema.HOLD_ID: self.hold_id, schema.REQUEST_ID: self.request_id}

    @classmethod
    async def open(
        cls,
        actor: Actor,
        reason: str,
        *,
        owned: bool = True,
        for_thread: bool = False,
        location: str = "",
        repl: bool = False,
        stops: bool = True,
    ) -> Session:
        """Wait for the TTY lock (cancellable) and return the session holding it.
        The task that already holds the live session gets that one back.
        ``for_thread``: opened for another thread (its ``trio.from_thread.run`` may
        run this in the very task that started the thread, one stepping at its
        REPL): never taken for that task's own re-entry, another REPL queues.
        ``location`` (``file.py:12 in fn()``) is what the queue shows others.
        ``repl``: a REPL opens once granted (its PdbREPL is built during the wait).
        ``stops``: the hold stops its task at a REPL (not acquire_debug_lock's, which
        runs the user's block): a caller of another tree is told."""
        global current
        task = current_task() if owned else None
        live = current
        if not for_thread and live is not None and live.owned_by_current_task():
            live.reentered(reason)
            return live
        session = cls(actor, reason, location)
        session.owner_task = task
        global _local_waiters
        _local_waiters += 1
        try:
            await session._wait_grant(repl)
        finally:
            _local_waiters -= 1
        current = session
        if stops:
            await _tell_foreign_caller(session)
        return session

    def owned_by_current_task(self) -> bool:
        task = self.owner_task
        return task is not None and task is current_task() and not self._done

    def reentered(self, reason: str) -> None:
        """The holding task paused (or crashed) again while its REPL was live, or
        while it held the terminal with no REPL (``acquire_debug_lock``)."""
        if self.pdb is not None:
            self.pdb.detach()  # a new trace (or post-mortem) takes over from here
            if reason == CRASH and self.reason != CRASH:
                # a crash reached while stepping: its post-mortem is a REPL of its
                # own, shown and recorded as a crash (the stepping REPL ends here)
                self.reason = CRASH
                self._end_repl_span()
        else:
            self.reason = reason  # the REPL about to open is this one's (its banner)
        events.event(
            schema.REPL_REENTERED,
            **{schema.REASON: reason},
            **self.hold_attrs(),
            **self.actor.lineage_attrs(),
        )

    def _request(self) -> LockRequest:
        actor = self.actor
        requested_at = time.monotonic()
        # the wait for the terminal, ended at the grant: the first record of a hold a
        # receiver gets, while its REPL is still open (spans export when they end)
        attrs: dict[str, Any] = {schema.REQUEST_ID: self.request_id, schema.REASON: self.reason}
        # under the actor's start span, exported at boot: nested in a rooted trace
        # while the REPL is open (the actor's own span exports only at its exit)
        self._wait_span = events.start_live_span(
            schema.LOCK_WAIT_SPAN, **attrs, **actor.lineage_attrs()
        )
        events.event(
            schema.LOCK_REQUESTED,
            **{
                schema.REQUEST_ID: self.request_id,
                schema.REASON: self.reason,
                schema.REQUESTED_AT: requested_at,
            },
            **actor.lineage_attrs(),
        )
        return LockRequest(
            request_id=self.request_id,
            requester=Requester(
                name=actor.name,
                uuid=actor.uid.uuid,
                path=actor.path,
                pid=actor.pid,
                reason=self.reason,
                thread=self.thread_name or "",
                where=self.location,
            ),
            requested_at=requested_at,
        )

    async def _wait_grant(self, repl: bool = False) -> None:
        """Queue this session's request with the root's lock and wait for its grant,
        in the task that asked: the grant wakes it directly (a task of its own waiting
        for it cost a task hop on each side of the wait). The rest of the hold (until
        the REPL is left, then the release's answer) goes to a task of the actor's
        service nursery (:meth:`_keep_hold`)."""
        actor = self.actor
        if actor._service is None:
            raise RuntimeError(f"actor {actor.path!r} is not running")
        _holding.add(self)
        try:
            async with contextlib.AsyncExitStack() as stack:
                stream: Any = None
                if actor.is_root:
                    lock = self._root_lock = tty_lock.root_lock()
                    hold = await stack.enter_async_context(lock.hold(self._request()))
                    grant = hold.grant
                    assert grant is not None
                else:
                    portal = self._portal = await actor.root_portal()
                    request: dict[str, Any] = {"request": encode_msg(self._request())}
                    left = _left_on(actor, portal)
                    if left is not None:  # the root releases it once this one is queued
                        left._before_release()
                        request["release"] = encode_msg(left._release_msg())
                    stream = await stack.enter_async_context(
                        portal.open_stream_from(tty_lock.serve_hold, **request)
                    )
                    if left is not None:
                        left._release_sent = True
                    _release_left(actor)
                    if repl and interactive():  # meanwhile the root answers
                        prepare_repl()
                    grant = decode_msg(await _next(stream), LockGrant)
                self._granted(grant)
                held = stack.pop_all()
                try:
                    actor.start_service_soon(self._keep_hold, held, stream, grant)
                except BaseException:  # the actor's service nursery is closed: ends here
                    with trio.CancelScope(shield=True):
                        await held.aclose()
                    raise
        except BaseException:
            _holding.discard(self)
            holdguard.unwatch(self)
            self._finished.set()
            raise

    async def _keep_hold(
        self, stack: contextlib.AsyncExitStack, stream: Any, grant: LockGrant
    ) -> None:
        """The holding task: until the REPL is left, then the release is answered (the
        queued request, ``stack``, ends: in the root its lock hold, in a child its
        stream)."""
        try:
            async with stack:
                if stream is None:
                    await self._held()
                    self._release_now()
                else:
                    await self._keep(self._portal, stream, grant)
        finally:
            _holding.discard(self)
            holdguard.unwatch(self)
            self._finished.set()

    # --- switch: another waiter gets the terminal now, this stop is next -----------

    async def switch_to(
        self, target: LockRequest, where: str = ""
    ) -> tuple[Session | None, SwitchReply]:
        """``switch``: ask the root to give the terminal to the waiting ``target`` now,
        with this stop queued right behind it. Returns the session that will hold
        the terminal again for this same stop (await its :attr:`granted`) and the
        root's reply; ``None`` and the reason when the root refused. Once the root
        agreed this session ends as ``switched``. ``where``: the line the REPL stands
        on now (it may have stepped since it stopped), what the queue shows."""
        nxt = Session(self.actor, self.reason, where or self.location)
        nxt.owner_task, nxt.thread_name = self.owner_task, self.thread_name
        nxt.asyncio_task_name = self.asyncio_task_name
        # the terminal's settings go back before the target's REPL can start: put
        # back after it (by the release), they undid its readline's (no echo), and
        # what the user typed there showed twice
        saved, self._tty = self._tty, None
        terminal.restore_tty(saved)
        reply: SwitchReply = await self.actor.start_service(
            nxt._hold_switched, self.hold_id, target.request_id
        )
        if reply.refused:
            self._tty = saved
            return None, reply
        self.release("switched")
        return nxt, reply

    async def _hold_switched(
        self, hold_id: int, target: str, task_status: trio.TaskStatus[SwitchReply]
    ) -> None:
        _holding.add(self)
        try:
            if self.actor.is_root:
                lock = self._root_lock = tty_lock.root_lock()
                request = self._request()
                again = lock.switch(hold_id, target, request)
                if isinstance(again, str):
                    self._refused()
                    task_status.started(SwitchReply(refused=again))
                    return
                assert lock.holder is not None
                task_status.started(SwitchReply(to=lock.holder.path))
                async with lock.hold(request, queued=again) as hold:
                    assert hold.grant is not None
                    self._granted(hold.grant)
                    await self._held()
                    self._release_now()
                return
            portal = self._portal = await self.actor.root_portal()
            async with portal.open_stream_from(
                tty_lock.serve_switch,
                hold_id=hold_id,
                target=target,
                request=encode_msg(self._request()),
            ) as stream:
                reply = decode_msg(await _next(stream), SwitchReply)
                if reply.refused:
                    self._refused()
                    task_status.started(reply)
                    return
                task_status.started(reply)
                grant = decode_msg(await _next(stream), LockGrant)
                self._granted(grant)
                await self._keep(portal, stream, grant)
        finally:
            _holding.discard(self)
            holdguard.unwatch(self)
            self._finished.set()

    def _refused(self) -> None:
        self._done = True
        if self._wait_span is not None:
            self._wait_span.end()

    async def _keep(self, portal: Any, stream: Any, grant: LockGrant) -> None:
        """Hold the terminal until the REPL is left, then release it at the root."""
        await self._held()
        self._release_now()  # (sent already, unless the channel was busy then)
        with trio.CancelScope(shield=True), trio.move_on_after(RELEASE_TIMEOUT):
            try:
                call, self._release_call = self._release_call, None
                if call is not None:
                    await portal.result_of(call, *_RELEASE_HOLD)
                elif not self._release_sent:  # (sent with this actor's next request)
                    release = encode_msg(self._release_msg())
                    await portal.run_from_ns(*_RELEASE_HOLD, release=release)
                async for _ in stream:  # the root ends the hold's stream
                    pass
            except ChannelClosed:
                pass  # the root is gone, and the lock with it

    async def _held(self) -> None:
        """Until the REPL is left. No deadlock by construction: the lock is only
        kept while a prompt is on screen or nobody else wants it. A step (``n``,
        ``s``, ``r``, ``until``) that runs ``STEP_YIELD_S`` without reaching its stop
        while another REPL waits gives the terminal up (it may be waiting on that
        very REPL's actor: a peer's message, an event); its stop then queues for the
        terminal like any pause (:mod:`devx.debug.door`). A waiter of this very
        actor (another task or thread) gets it at once: the step is then surely
        not at a stop."""
        view = tree_lock.view
        while not self._released.is_set():
            # bound before the state is read: a push between the read and the wait
            # (the root's queue growing) must wake this loop, never be missed
            changed = view.next_change()
            if view.state.closed:  # the tree ends with no REPL (sigint's escape)
                self.abandon()
                return
            if not view.state.waiting:
                await _first(self._released.wait, changed.wait)
                continue
            left = self._step_left()
            if left is not None and left <= 0:
                self._yield_turn()
                return
            with trio.move_on_after(STEP_YIELD_S if left is None else left):
                await _first(self._released.wait, changed.wait)

    def _step_left(self) -> float | None:
        """Seconds until a running step gives the terminal up; None: no step runs
        (the prompt is on screen, or no REPL yet)."""
        pdb = self.pdb
        since: float | None = None if pdb is None or pdb.on_exit is None else pdb.stepping_since
        if since is None or self._done:
            # (done: left already, its release waits for the loop's next pass, e.g. a
            # post-mortem left with `n` from sync code that stops again at once)
            return None
        if _local_waiters:
            return 0.0  # another task or thread of this actor wants the terminal
        return STEP_YIELD_S - (time.monotonic() - since)

    def abandon(self) -> None:
        """The tree ends under this hold with no REPL (three ctrl-c with no prompt
        on screen, :mod:`devx.debug.sigint`): stop tracing the step (no prompt may
        come back while it unwinds) and free the terminal. Safe in a signal
        handler: the release itself runs on the loop."""
        import bdb

        from . import door

        pdb = self.pdb
        if pdb is not None:
            pdb.on_exit = None
            door.disown(pdb)
            bdb.Bdb.set_continue(pdb)
        token = self.actor.trio_token
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self.release, "cancelled")

    def owner_ended(self, owner: str) -> None:
        """The backstop (:mod:`devx.debug.holdguard`): ``owner`` (the task or thread
        this session belongs to) ended with it live, by a path that did not leave
        the REPL (e.g. a step whose stop never came: tracing turned off under it).
        Stop tracing for it, say so in one line, and free the terminal. On the
        actor's loop thread."""
        if self._done:
            return
        import bdb

        from . import door

        pdb = self.pdb
        if pdb is not None:
            pdb.on_exit = None
            door.disown(pdb)
            if self.repl_thread == threading.get_ident():  # (a thread's trace died with it)
                bdb.Bdb.set_continue(pdb)
        how: Final = schema.RELEASED_OWNER_ENDED
        text = (
            f"\n[devx] {self.where}: {owner} ended holding the terminal, its REPL never "
            f"left: released ({how})\n"
        )
        terminal.write(text)
        if self.attached is not None:  # the client goes on to the next in line
            self.attached.write(text)
            self.attached.close(how)
        self.release(how)

    def _yield_turn(self) -> None:
        waiting = tree_lock.view.state.waiting
        text = (
            f"\n[devx] {self.where}: the step runs on with no prompt while {waiting} "
            "other REPL(s) wait:\n       the terminal goes to the next in line; this step's "
            "stop queues for it\n"
        )
        terminal.write(text)
        if self.attached is not None:  # the client goes on to the next in line
            self.attached.write(text)
            self.attached.close("yielded")
        self.release("yielded")

    def _granted(self, grant: LockGrant) -> None:
        console.hold("this actor's REPL is live")  # before its banner: nothing under it
        self.grant = grant
        self._context = contextvars.copy_context()  # the pausing task's: see _release_now
        self.wait_s = grant.wait_s
        self.granted.set()
        holdguard.watch(self)  # should its task end with it live (see holdguard)
        granted = {schema.REASON: self.reason, schema.WAIT_S: grant.wait_s, **self.hold_attrs()}
        if self._wait_span is not None:
            self._wait_span.set(**granted, **{schema.QUEUED: grant.queued})
            self._wait_span.end()
        self._lock_span = events.start_live_span(
            schema.LOCK_HELD_SPAN, **granted, **self.actor.lineage_attrs()
        )
        # who holds the terminal, visible at once (once the prompt is drawn)
        events.flush_soon(0.5, after=PROMPT_FIRST_S)

    def announce(self, what: str, out: Any = None, hint: str = "") -> str:
        """The banner: which actor, where in the tree, why it stopped, who waits;
        written to the terminal (or ``out``: an attached client), with ``hint`` under
        it (lines ending in a newline) in the same write, and returned."""
        self._announced = (what, hint)
        actor = self.actor
        if self.thread_name is not None:
            what = f"thread {self.thread_name!r}" + (f": {what}" if what else "")
        elif self.asyncio_task_name is not None:
            what = f"asyncio task {self.asyncio_task_name!r}" + (f": {what}" if what else "")
        behind = "".join(f"\n    {line}" for line in banner_lines(self.waiters_now()))
        head = (
            f">>> devx {self.reason.upper()} in actor {actor.name!r} "
            f"(path {actor.path}, pid {os.getpid()})"
        )
        # an attached client's terminal is not ours: laid out in its width, which its
        # stream knows (out is that stream's write)
        dest = getattr(out, "__self__", out) if out is not None else sys.stdout
        cols, width = terminal.columns(dest), terminal.width(dest)
        first = what.partition("\n")[0]
        if _LOCATION.match(first) and len(head) + 2 + len(first) > width:
            what = f"\n    at {what}"  # the stop's place on a line of its own
        elif what:
            what = f": {what}"
        note = f"\n    {self.note}" if self.note else ""
        text = terminal.fit(f"\n{head}{what}{note}{_foreign_caller_line()}{behind}\n{hint}", cols)
        (out or terminal.write)(text)
        return text

    def announce_again(self, out: Any) -> str:
        """The banner once more, for a client attaching again to this live REPL: the
        line it stands on now (steps may have moved it), the queue as it is now."""
        what, hint = self._announced
        first = self.first_location
        if first and self.location != first:
            what = what.replace(first, self.location, 1)
        return self.announce(what, out=out, hint=hint)

    def waiters_now(self) -> tuple[LockRequest, ...]:
        """Who waits behind this hold, as known now: the root's latest push if it
        came after the grant (it may name requests that arrived since), else the
        waiters the grant carried."""
        state = tree_lock.view.state
        if self.grant is not None and state.hold_id == self.grant.hold_id:
            return state.waiters
        return self.grant.waiters if self.grant is not None else ()

    def repl_started(self, frame: FrameType | None) -> None:
        """Mark the REPL entry (telemetry, terminal state) just before it blocks."""
        self.repl_thread = threading.get_ident()
        if self.repl_thread != self._loop_thread and self.owner_task is None:
            holdguard.watch_thread(self)  # should the thread end with it live
        if self._repl_span is not None:
            return  # re-entered: the same REPL goes on
        self._repl_span = events.start_span(
            schema.REPL_SPAN,
            parent=self._lock_span,
            **{schema.REASON: self.reason},
            **frame_attrs(frame),
            **self.hold_attrs(),
            **self.actor.lineage_attrs(),
        )
        if not self._tty_saved:  # (a crash's REPL after a stepping one: saved then)
            self._tty, self._tty_saved = terminal.save_tty(), True
        if self._tty is not None and self._unhook_tty is None:
            from ..runtime import lifeline

            # a prompt's readline leaves the terminal without echo or line editing:
            # the root puts it back when a holder dies, but when this process ends
            # itself because its root is gone (SIGKILLed) nobody else would
            self._unhook_tty = lifeline.before_hard_exit(lambda _: terminal.restore_tty(self._tty))
        self.loop_blocks(after=PROMPT_FIRST_S)  # (once the prompt is drawn)
        # a hold in an actor's first second: its telemetry may still be loading (the
        # SDK's import); the prompt waits for it (bounded) so the hold is on its way
        # to the collector before the user reads the prompt, not a second later
        events.wait_ready(READY_WAIT)
        # the trace is visible while the user sits in the REPL
        events.flush_soon(0.5, after=PROMPT_FIRST_S)

    def stood_at(self, frame: FrameType | None) -> None:
        """The REPL's prompt is up at ``frame`` (each stop calls this): a new line is
        counted, and the hold's record follows it (``devx ps``, waiters, the release:
        :mod:`.stop_moves`)."""
        where = code_location(frame)
        if not where or where == self._stood:
            return
        self._stood = where
        self.stops += 1
        if where != self.location:
            self.location = where
            stop_moves.report(self, where)

    def loop_blocks(self, after: float = 0.0) -> None:
        """This thread is about to block (the REPL, or its wait for `devx attach`):
        when that is the root's loop, its lock's state is written ``after`` seconds
        from now for `devx ps` (the loop's own writer is stuck meanwhile)."""
        if self._root_lock is not None and threading.get_ident() == self._loop_thread:
            lock_file.write_ahead(self._root_lock, after=after)

    def _end_repl_span(self) -> None:
        """The REPL that was live ends without a release (a crash's REPL takes over
        in the same hold); the next :meth:`repl_started` starts the new one's span."""
        span, self._repl_span = self._repl_span, None
        if span is not None:
            span.end()

    def release(self, how: ReleaseHow = "continue") -> None:
        """Leave the REPL: restore the terminal, end the spans, free the lock.
        Synchronous and idempotent (called from inside pdb on continue/quit), from
        the actor's trio thread or from the thread a sync pause ran its REPL in."""
        with self._done_lock:
            if self._done:
                return
            self._done = True
        self.how = how
        if self.attached is not None:
            # the client goes on to the next REPL in line: told here too, for a REPL
            # left without its pdb's own exit (`n` in a post-mortem: the crash path
            # releases the session), where the client waited on this one for good
            self.attached.close(how)
        terminal.restore_tty(self._tty)
        unhook, self._unhook_tty = self._unhook_tty, None
        if unhook is not None:
            unhook()
        if self._repl_span is not None and self.stops > 1:  # steps moved it
            self._repl_span.set(
                **{schema.REPL_LEFT_AT: self.location, schema.REPL_STOPS: self.stops}
            )
        for span in (self._repl_span, self._lock_span):
            if span is not None:
                span.set(**{schema.RELEASE_HOW: how})
                span.end()
        then, self.on_release = self.on_release, []
        for call in then:
            call(how)
        tree_lock.refresh_gate()  # open again once the root says nobody holds it
        # The terminal passes on at this actor's loop's next pass, from a callback
        # (trio state is the loop thread's; a REPL in another thread left a free
        # loop). On the loop's thread that is the paused code's next checkpoint: what
        # the code after `c` prints until then comes before the next REPL's banner,
        # never inside its prompt (sent at once, it raced the next REPL's banner).
        token = self.actor.trio_token
        try:
            if token is None:
                raise trio.RunFinishedError
            token.run_sync_soon(self._left)
        except trio.RunFinishedError:  # the actor is gone, and its lock holder with it
            self._forget()
            return
        if threading.get_ident() == self._loop_thread:
            _leaving.append(self)

    def _forget(self) -> None:
        global current
        if current is self:
            current = None

    def _left(self) -> None:
        """On the loop's thread, once the REPL is left: free the terminal at the root
        and wake the holding task (which waits for the root's answer). Until then
        this is still the actor's ``current`` session: it holds the terminal with no
        prompt on screen, which is what a ctrl-c meanwhile is told (``sigint``).
        Runs once: the callback, or :func:`_release_left` before it."""
        if self in _leaving:
            _leaving.remove(self)
        elif self._released.is_set():
            return  # _release_left ran it already
        self._before_release()
        self._release_now()
        self._released.set()

    def _before_release(self) -> None:
        """No longer the actor's current session; what this actor's devx output kept
        back (a stack dump's line taken under this REPL) goes out while the terminal
        is still its own: once released, the next REPL's banner and prompt would have
        it written among them (at this actor's exit, when it ends before that REPL)."""
        self._forget()
        if console.kept():
            console.drain(0.5)

    def _release_now(self) -> None:
        """Send this hold's release to the root's lock, from synchronous code on the
        loop's thread, without waiting for the holding task to run (a task hop or
        three). Once per hold, and not once the hold has ended (its holding task
        cancelled: the root ended it then); in a child, when the channel to the root
        is busy, the holding task sends it instead (:meth:`_keep`). In the root the
        lock's records join the pausing task's context, as they did when its own
        task released the hold (not the loop's callback context)."""
        if self.grant is None or self._release_sent or self._finished.is_set():
            return
        release = self._release_msg()
        if self._root_lock is not None:
            self._release_sent = True
            # a REPL on the loop's thread blocked the root's loop: what the children
            # asked meanwhile is read before the next grant (FIFO across the REPL)
            blocked = self.repl_thread == self._loop_thread
            self._context.run(self._root_lock.release, release, readers_first=blocked)
        elif self._portal is not None:
            call = self._portal.start_nowait(*_RELEASE_HOLD, release=encode_msg(release))
            if call is not None:
                self._release_sent = True
                self._release_call = call

    def _release_msg(self) -> LockRelease:
        assert self.grant is not None
        return LockRelease(hold_id=self.grant.hold_id, how=self.how)


# the root's endpoint a child's release calls (devx.debug.lock.release_hold)
_RELEASE_HOLD = ("devx.debug.lock", "release_hold")


def _left_on(actor: Actor, portal: Any) -> Session | None:
    """A hold of this actor left on the loop's thread since its last pass (`c`, and
    on to the next pause with no checkpoint in between), whose release can go with
    the request about to be sent over ``portal``."""
    for session in _leaving:
        if (
            session.actor is actor
            and session._portal is not None
            and session._portal.channel is portal.channel
            and session.grant is not None
            and not session._release_sent
            and not session._finished.is_set()
        ):
            return session
    return None


def _release_left(actor: Actor) -> None:
    """A request of this actor just went to the root, from the loop's thread before
    its next pass: the holds this actor's code left since (`c` and on to this
    pause, no checkpoint in between) are released now, rather than from their loop
    callback a pass later (a pass and this request's PdbREPL build, ~0.3 ms of a
    hand-off). What that code printed is on the terminal already. The release went
    with the request (:func:`_left_on`): the root queues the request, then releases,
    so the next holder's grant lists this actor as waiting, as it does when the
    release comes later; here only the rest of the leaving is done."""
    while _leaving:
        session = _leaving[0]
        if session.actor is actor:
            session._left()
        else:  # a tree that ended before its callback ran
            _leaving.pop(0)


def release_left_on(chan: Any) -> None:
    """The channel ``chan`` is being closed by this actor's own code: the holds left
    on the loop's thread (`c`) whose release would go over it at the loop's next pass
    are released now, before it closes. Otherwise the root saw the channel end with
    the hold still on (the code after `c` closing its channel to the root with no
    checkpoint in between, as the peer project's subactor_bp_in_ctx.py example does)
    and said the child went away holding the terminal, which it had left."""
    for session in list(_leaving):
        if session._portal is not None and session._portal.channel is chan:
            session._left()


async def _next(stream: Any) -> Any:
    """The stream's next item; its end is the root ending the request."""
    async for item in stream:
        return item
    raise ChannelClosed("the root actor ended the TTY lock request")


async def _first(*waits: Any) -> None:
    """Until the first of ``waits`` (async callables) returns."""
    async with trio.open_nursery() as nursery:
        for wait in waits:

            async def run(wait: Any = wait) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(run)


# the calls whose foreign caller was told (once a call: a pause in a loop says it once),
# as the call's cancel scope -> its id (a parked worker's scope serves call after call)
_told: weakref.WeakKeyDictionary[trio.CancelScope, int] = weakref.WeakKeyDictionary()


async def _tell_foreign_caller(session: Session) -> None:
    """A REPL opened by a call from another tree's actor: that caller's terminal is
    told (:class:`~devx.runtime.msgs.CalleeAtRepl`), once per call, before the REPL
    blocks this loop. Not waited for past a moment (a channel busy with a big frame,
    a caller gone): the REPL is the user's, the line only a courtesy."""
    from ..runtime.actor import call_scope, foreign_caller
    from ..runtime.ipc import pack
    from ..runtime.msgs import CalleeAtRepl

    call = foreign_caller.get()
    scope = call_scope.get()
    if call is None or scope is None or _told.get(scope) == call[1]:
        return
    chan, cid = call
    _told[scope] = cid
    actor = session.actor
    msg = CalleeAtRepl(cid, actor.path, actor.pid, session.reason, session.location)
    # shielded (bounded): the terminal is granted by now, and a cancel of this task
    # raised here would leave it held by a session nobody has (no REPL, no release:
    # every other REPL of the tree would wait while this task lives); the REPL opens,
    # as a granted one always did
    with trio.CancelScope(shield=True, deadline=trio.current_time() + TELL_CALLER_S):
        try:
            await chan.send_raw(pack(msg), checkpoint=False)
        except (ChannelClosed, OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the caller went away: nobody to tell


def _foreign_caller_line() -> str:
    """A REPL opened by a call from another tree's actor (found through the registry)
    says so: it is on this tree's terminal, not the caller's."""
    from ..runtime.actor import foreign_caller

    call = foreign_caller.get()
    if call is None:
        return ""
    chan = call[0]
    return (
        f"\n    serving a call from actor {chan.peer_uid} (pid {chan.peer_pid}) of another "
        f"tree (root {chan.peer_root}):\n    this REPL is on this tree's terminal, not the caller's"
    )
