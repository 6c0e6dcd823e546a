"""Contexts: a call that hands its caller a first value (``ctx.started``), may carry a
two-way stream (``ctx.open_stream``), then returns (or fails) like ``portal.run``.

Callee::

    @devx.context
    async def worker(ctx: devx.Context, n: int) -> str:
        await ctx.started(n * 2)
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await stream.send(msg + 1)
        return "done"

Caller::

    async with portal.open_context(worker, n=21) as (ctx, first):
        async with ctx.open_stream() as stream:
            await stream.send(1)
            assert await stream.receive() == 2
        assert await ctx.result() == "done"

On the wire (``msgs``): ``Start(context=True)``, then ``Started``, then any number of
``StreamItem``/``StreamAck``/``StreamEnd`` both ways, then ``Return`` or ``Error``; the
caller gives up with ``CancelCall``. A callee that opens its stream says so
(``StreamOpened``): only then does a caller whose block ends without a stream owe it a
``StreamEnd`` (a context that streams nothing costs the caller one frame, its
``Start``). Frames are routed by the caller's cid: on the caller's side through its
:class:`CallTable` (an inbox that dispatches at once), on the callee's side through
``Actor.contexts``.

Semantics in brief: an error of the callee cancels the caller's block and is raised
out of it (:class:`RemoteActorError`); an error (or an outer cancellation) of the
caller's block cancels the callee, waits for it to finish (bounded) and is raised
as is; the caller's ``ctx.cancel()`` cancels the callee and waits (bounded) for its
acknowledgement, which cancels the caller's block unless that block waits for the
callee then (the peer project's rule), and the block exits quietly; a
stream is credit-based (a window of ``DEVX_STREAM_WINDOW`` items): a sender waits
when its receiver has that many unread, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import trio

from ..core import events, schema, settings
from ..core.public import present_as
from . import broadcast, payload, replywait
from .broadcast import BroadcastReceiver
from .errors import (
    ChannelClosed,
    ContextCancelled,
    ContextError,
    IPCEncodeError,
    RemoteActorError,
    StreamClosed,
    strip_cancelled,
    type_name,
    unbox_error,
)
from .inline import CONTEXT_MARK, is_context_fn
from .ipc import YIELD_EVERY, Channel, Mailbox, encode, pack
from .msgs import (
    ActorID,
    CancelCall,
    Error,
    ErrorInfo,
    Return,
    Start,
    Started,
    StreamAck,
    StreamEnd,
    StreamItem,
    StreamOpened,
    Yield,
)
from .portal import func_ref

if TYPE_CHECKING:
    from .actor import Actor
    from .portal import Portal

# how long the caller's ctx.cancel() waits for the callee's acknowledgement before it
# returns anyway (the peer project's default for Context.cancel(timeout=))
CANCEL_ACK_WAIT = 0.616

Side = Literal["caller", "callee"]

log = logging.getLogger("devx.runtime")

# the context the current task runs in: the callee's function, or a caller's block
_current_ctx: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "devx_ipc_ctx", default=None
)


def current_ipc_ctx(error_on_not_set: bool = False) -> Context | None:
    """The :class:`Context` the calling task runs in: a ``@devx.context`` function's
    own (and anything it calls), or the caller's inside its ``open_context`` block.
    None outside one, as in the peer project (``error_on_not_set=True``: raises
    :class:`ContextError` instead)."""
    ctx = _current_ctx.get()
    if ctx is None and error_on_not_set:
        raise ContextError(
            "current_ipc_ctx(): this task runs in no context (it is neither a "
            "@devx.context function nor inside a portal.open_context() block)"
        )
    return ctx


def context(fn: Callable[..., Any] | None = None, *, pld_spec: Any = None) -> Any:
    """Mark an async function as a context: it is opened with
    ``portal.open_context(fn, **kwargs)`` and called as ``fn(ctx, **kwargs)``.
    ``@devx.context(pld_spec=T)``: every value the context carries must be a ``T``
    (:mod:`devx.runtime.payload`)."""
    if fn is None:
        return lambda f: context(f, pld_spec=pld_spec)
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"@devx.context needs an async function (async def ...(ctx, ...)); "
            f"{getattr(fn, '__qualname__', fn)!r} is not one"
        )
    if pld_spec is not None:
        payload.check_spec(pld_spec, getattr(fn, "__qualname__", repr(fn)))
        setattr(fn, payload.SPEC_ATTR, pld_spec)
    setattr(fn, CONTEXT_MARK, True)
    return fn


def stream(fn: Any = None, **_options: Any) -> Any:
    """The peer project's legacy ``@stream`` decorator (a function streaming with
    ``ctx.send_yield()``) is not supported: raises a ``TypeError`` saying what to
    write instead, at decoration time, so a program fails where it defines one."""
    name = getattr(fn, "__qualname__", None)
    raise TypeError(
        f"@devx.stream{f' on {name}' if name else ''}: the legacy one-way streaming "
        "decorator (ctx.send_yield) is not supported. Make it a @devx.context function "
        "(`await ctx.started()`, then `async with ctx.open_stream() as stream: await "
        "stream.send(x)`, opened with portal.open_context()), or an async generator "
        "streamed with portal.open_stream_from()"
    )


class Credit:
    """A sender's credit on a one-way stream (``open_stream_from``): one window of
    items (``DEVX_STREAM_WINDOW``) at the start, more as the receiver acknowledges
    what it read (``StreamAck``), as on a context's stream."""

    __slots__ = ("_lot", "n")

    def __init__(self) -> None:
        self.n = settings.current().stream_window
        self._lot = trio.lowlevel.ParkingLot()

    def add(self, n: int) -> None:
        self.n += n
        self._lot.unpark_all()

    async def take(self) -> None:
        """One item's worth; waits while the receiver holds a window unread."""
        if self.n <= 0:
            while self.n <= 0:
                await self._lot.park()
        self.n -= 1


class ItemNow:
    """Sends one item of a one-way stream at once, from synchronous code on the
    loop's thread, e.g. another task's (the TTY lock's grant, sent by the release
    that frees it, not a scheduler pass later by the stream's own task). False,
    and nothing sent, when the stream's task would not send it now either (its
    call cancelled) or it would have to wait or jump ahead of an item that task is
    sending (no credit left, the channel busy): the caller then yields the item
    as usual."""

    __slots__ = ("chan", "cid", "credit", "scope")

    def __init__(
        self, chan: Channel, cid: int, credit: Credit, scope: trio.CancelScope | None
    ) -> None:
        self.chan, self.cid, self.credit, self.scope = chan, cid, credit, scope

    def __call__(self, value: Any) -> bool:
        if self.credit.n <= 0 or (self.scope is not None and self.scope.cancel_called):
            return False
        if not self.chan.send_nowait(pack(Yield(cid=self.cid, value=value))):
            return False
        self.credit.n -= 1
        return True


# the stream the running task serves (an async generator's body may read it)
item_now: contextvars.ContextVar[ItemNow | None] = contextvars.ContextVar(
    "devx_stream_item_now", default=None
)


def ack_every() -> int:
    """A receiver acknowledges what it read every this many items (half a window)."""
    return max(1, settings.current().stream_window // 2)


class MsgStream:
    """A context's two-way stream: ``send``, ``receive``, ``async for``, ``aclose``.
    ``receive`` raises :class:`trio.EndOfChannel` (``async for`` ends) once the peer
    closed its side and everything it sent before was read."""

    def __init__(self, ctx: Context):
        self._ctx = ctx
        self._reading = 0  # receives waiting on the context itself (not subscribed)

    def __repr__(self) -> str:
        return f"<MsgStream of {self._ctx!r}>"

    @property
    def ctx(self) -> Context:
        return self._ctx

    @property
    def buffered(self) -> int:
        """Items received and not yet read (at most the stream window, ``DEVX_STREAM_WINDOW``)."""
        return len(self._ctx._items)

    @property
    def credits(self) -> int:
        """Items this side may still send before its peer reads some."""
        return self._ctx._credits

    @property
    def closed(self) -> bool:
        return self._ctx._stream_state == "closed"

    async def send(self, value: Any) -> None:
        await self._ctx._send_item(value)

    async def receive(self) -> Any:
        self._reading += 1
        try:
            value = await self._ctx._receive_item()
        except BaseException as exc:
            self._reading -= 1
            if self.__class__ is not MsgStream:  # a task subscribed while it waited
                self._read_ended(None, exc)
            raise
        self._reading -= 1
        if self.__class__ is not MsgStream:
            self._read_ended(value, None)
        return value

    def _read_ended(self, value: Any, exc: BaseException | None) -> None:
        pass  # only a subscribed stream shares what it read

    def __aiter__(self) -> MsgStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await MsgStream.receive(self)
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._ctx._close_stream()

    async def __aenter__(self) -> MsgStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[BroadcastReceiver]:
        """A receiver of every item of this stream for one more local task (the peer
        project's broadcast): each subscriber, and this stream itself, gets each item
        that arrives from the moment it subscribed; one that falls more than a stream
        window behind the fastest gets :class:`devx.trionics.Lagged`. The receiver's
        ``send`` goes to the peer. Closed (for that task only) when the block ends."""
        if not isinstance(self, _SubscribedStream):
            # from now on this stream reads through the shared buffer too; a stream
            # nobody subscribes to keeps its plain receive path
            primary = broadcast.fanout(
                self._ctx._receive_item, self.send, maxlen=self._ctx._window, what=repr(self)
            )
            self.__class__ = _SubscribedStream
            self._primary = primary
            if self._reading:
                # the stream's own receive waits already: what it gets is the first
                # subscriber's read (for every subscriber), none reads beside it
                primary._fanout.reading = True
        async with self._primary.subscribe() as sub:
            yield sub


class _SubscribedStream(MsgStream):
    """A stream some task subscribed to: its own receive reads the shared buffer."""

    _primary: BroadcastReceiver

    async def receive(self) -> Any:
        return await self._primary.receive()

    async def __anext__(self) -> Any:
        try:
            return await self._primary.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def _read_ended(self, value: Any, exc: BaseException | None) -> None:
        # a receive begun before the first subscribe() ended
        self._primary._fanout.outside_read_ended(self._primary, value, exc, self._reading > 0)


class _Inbox(Mailbox):
    """The caller's entry in its CallTable: frames are handled as they arrive."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Context):
        super().__init__()
        self.ctx = ctx

    def put(self, item: Any) -> None:
        self.ctx._on_msg(item)

    def close(self) -> None:
        self.closed = True
        self.ctx._on_lost()

    def lendee(self) -> trio.lowlevel.Task | None:
        return self.ctx._direct_waiter


class Context:
    """One side of a context. ``side`` is ``"caller"`` or ``"callee"``; ``chan`` the
    channel to the peer (``chan.aid`` is the peer's id); ``cancel_called`` whether
    this side called :meth:`cancel`."""

    # the state every context starts with, as class attributes: an instance sets its
    # own as it changes (set one by one in __init__, they were ~2/3 of its cost, on
    # the critical path of both sides)
    _started = False
    _first: Any = None
    _peer_ended = False
    _unacked = 0
    _ready_in_a_row = 0
    _stream_state: Literal["none", "open", "closed"] = "none"
    _sent_end = False
    _peer_reads = False  # caller: the callee opened its stream (StreamOpened)
    _saw_end = False  # this side's receive returned the peer's end
    _peer_end: trio.EndOfChannel | None = None  # what that receive raised
    _late_dropped = 0  # sends dropped because the peer had closed its stream
    _cancel_where = ""  # callee: where its own ctx.cancel() was called
    _final: Return | Error | None = None  # caller: the callee's outcome
    _converted = False  # _final's value converted to the pld_spec (cached)
    _converted_value: Any = None
    _remote_error: BaseException | None = None
    _lost = False  # caller: the channel closed before the outcome came
    _done = False
    _scope: trio.CancelScope | None = None
    # caller: the task whose block this is, and whether it waits for the callee
    # (result(), a stream receive, the block's end): the acknowledgement of this
    # side's own cancel is handed to such a wait instead of cancelling the block
    _opener: trio.lowlevel.Task | None = None
    _opener_nurseries = 0  # nurseries the opener had open at the block's entry
    _opener_reads = False
    cancel_called = False
    # caller: the task waiting in _wait_reply, to whom the reader may lend the
    # channel's read baton with the frame it waits for (see Channel.read_until)
    _direct_waiter: trio.lowlevel.Task | None = None
    # callee: the actor whose request cancelled the call (the caller's CancelCall,
    # or a cancel of this actor), see canceller
    _cancelled_by: ActorID | None = None
    span: events.SpanHandle = events.NULL_SPAN

    def __init__(
        self,
        *,
        side: Side,
        chan: Channel,
        cid: int,
        fn_name: str,
        actor: Actor,
        portal: Portal | None = None,
        fn: Callable[..., Any] | None = None,
    ):
        self.side: Side = side
        self.chan = chan
        self.cid = cid
        self.fn_name = fn_name  # "module.qualname"
        self._actor = actor
        self._portal = portal
        self._to_callee = side == "caller"  # direction of the frames this side sends
        # tasks waiting in _wait (FIFO): a list, not a ParkingLot, whose park and
        # unpark_all are several Python calls each (two waits a context on the caller)
        self._waiting: list[trio.lowlevel.Task] = []
        self._items: deque[Any] = deque()
        self._credits = self._window = settings.current().stream_window
        # the function's pld_spec (@devx.context(pld_spec=...)): values are checked
        self._pld_spec: Any = getattr(fn, payload.SPEC_ATTR, None) if fn is not None else None

    def __repr__(self) -> str:
        return f"<Context {self.fn_name} cid={self.cid} {self.side} side, peer {self.chan.peer}>"

    # --- where things are, for error messages ------------------------------------------

    def _where(self) -> str:
        return f"context {self.fn_name} ({self.side} side, in actor {self._actor.path!r})"

    @property
    def _peer_side(self) -> str:
        return "callee" if self.side == "caller" else "caller"

    # --- frames arriving (sync: called by the channel's reader) --------------------------

    def _on_msg(self, msg: Any) -> None:
        if isinstance(msg, StreamItem):
            if self._stream_state != "closed":
                self._items.append(msg.value)
        elif isinstance(msg, StreamAck):
            self._credits += msg.n
        elif isinstance(msg, StreamEnd):
            self._peer_ended = True
        elif isinstance(msg, StreamOpened):
            self._peer_reads = True
        elif isinstance(msg, Started):
            self._started = True
            self._first = msg.value
            self.span.note(schema.CONTEXT_STARTED)
        elif isinstance(msg, Return):
            self._final = msg
        elif isinstance(msg, Error):
            self._final = msg
            self._remote_error = unbox_error(msg.error)
            # as in the peer: the acknowledgement of this side's own cancel does not
            # interrupt a block that waits for it (result() returns it, a stream
            # receive raises it); anything else cancels the block
            if self._scope is not None and not (self._opener_reads and self.cancel_acked):
                self._scope.cancel()
        if self._waiting:
            self._wake()

    def _on_lost(self) -> None:
        if self._done:
            return
        self._lost = True
        if self._final is None and self._scope is not None:
            self._scope.cancel()
        self._wake()

    async def _wait(self, ready: Callable[[], bool], reads: bool = False) -> None:
        """Wait until ``ready()``. ``reads``: a wait for the callee's frames
        (its outcome, stream items), where the caller's own task takes the
        acknowledgement of its cancel without its block being cancelled."""
        if ready():
            # a cancellation point, no scheduler pass: what it waits for came with a
            # frame the caller's reader delivered, and the caller waited for that one
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        task = trio.lowlevel.current_task()
        reading = reads and task is self._opener
        if reading:
            self._opener_reads = True
        try:
            while not ready():
                if self.chan._baton is task:  # lent with a frame that left it waiting (a
                    self.chan.release_baton()  # peer's stray one): nobody else would read
                self._waiting.append(task)

                def abort(_: Any, task: trio.lowlevel.Task = task) -> trio.lowlevel.Abort:
                    # not woken yet: still listed, unless a ctrl-c cut _wake short
                    # between taking the list and rescheduling it (then it never will be)
                    with contextlib.suppress(ValueError):
                        self._waiting.remove(task)
                    return trio.lowlevel.Abort.SUCCEEDED

                await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            if reading:
                self._opener_reads = False

    def _wake(self) -> None:
        """Wake every task waiting in :meth:`_wait` (each checks what it waits for)."""
        waiting, self._waiting = self._waiting, []
        for task in waiting:
            trio.lowlevel.reschedule(task)

    async def _wait_reply(self, ready: Callable[[], bool], reads: bool = False) -> None:
        """Caller: :meth:`_wait` for a frame of the callee (its ``Started``, its
        outcome), polling the channel briefly before the loop sleeps, as a
        ``portal.run`` waiting for its reply does (:mod:`.replywait`)."""
        if ready():
            await self._wait(ready)
            return
        poll = self.chan.reply_poll
        if poll is False:
            poll = self.chan.reply_poll = replywait.poller()
        fd = self.chan.fileno() if poll is not None else -1
        if poll is None or fd < 0:
            await self._read_or_wait(ready, reads)
            return
        poll.expect(fd)
        try:
            await self._read_or_wait(ready, reads)
        finally:
            poll.done(fd)

    async def _read_or_wait(self, ready: Callable[[], bool], reads: bool) -> None:
        """Read the channel until ``ready()`` when this task can take its read
        baton, as a ``portal.run`` does (see :meth:`Channel.read_until`), then (or
        else) :meth:`_wait`: the reader may lend the baton with the frame, which is
        given back here."""
        chan = self.chan
        task = trio.lowlevel.current_task()
        if chan.take_baton():
            reading = reads and task is self._opener
            if reading:  # (as in _wait: the acknowledgement of our cancel is read here)
                self._opener_reads = True
            try:
                await chan.read_until(ready)  # gives the baton back
            finally:
                if reading:
                    self._opener_reads = False
        self._direct_waiter = task
        try:
            await self._wait(ready, reads)
        finally:
            self._direct_waiter = None
            if chan.holds_baton():
                chan.release_baton()

    def _over(self) -> bool:
        return self._final is not None or self._lost

    def _stream_closed(self) -> bool:
        """Read after an await: another task may have closed the stream meanwhile."""
        return self._stream_state == "closed"

    # --- the API of both sides -----------------------------------------------------------

    async def started(
        self,
        value: Any = None,
        validate_pld_spec: bool = True,
        strict_pld_parity: bool = False,
        hide_tb: bool = True,
    ) -> None:
        """Callee: hand the caller its first value (``open_context`` returns it).
        With a ``pld_spec``, the value is checked here (``MsgTypeError``, nothing sent)
        unless ``validate_pld_spec=False`` (the peer project's option): then it is sent
        as it is and the caller's ``open_context`` raises the ``MsgTypeError``.
        ``strict_pld_parity`` and ``hide_tb`` are the peer's options too: the check
        already decodes the value as the receiver would, and tracebacks are kept."""
        if self.side != "callee":
            raise ContextError(
                f"started() called by the caller of {self._where()}: only the callee "
                "calls it; the caller gets the value from open_context()"
            )
        if self._started:
            raise ContextError(
                f"started() called twice in {self._where()}: the caller already has "
                "its first value; send more through ctx.open_stream()"
            )
        if self._pld_spec is not None and validate_pld_spec:
            payload.outgoing(self._pld_spec, value, "the started() value", self._where())
        try:
            frame = pack(Started(cid=self.cid, value=value))
        except IPCEncodeError as exc:
            raise IPCEncodeError(f"value given to started() in {self._where()}: {exc}") from None
        self._started = True
        self.span.note(schema.CONTEXT_STARTED)
        # written at once, as the peer does: holding it back to share a write with
        # what follows saved a wake-up, but a callee that then runs synchronous code
        # (CPU work after saying it is ready) kept its caller waiting that long
        try:
            await self.chan.send_raw(frame)
        except trio.Cancelled:
            if not self.chan.handed_off(frame):  # nothing went out: not started yet
                self._started = False
            raise

    @asynccontextmanager
    async def open_stream(
        self, *, allow_overruns: bool = False, msg_buffer_size: int | None = None
    ) -> AsyncIterator[MsgStream]:
        """The context's two-way stream; leaving the block closes it (the peer's
        ``async for`` ends).

        ``allow_overruns`` and ``msg_buffer_size`` are the peer project's options
        for its fixed-size buffers; accepted and checked, with nothing to change
        here: a devx stream is credit-based (a sender waits while its receiver holds
        ``DEVX_STREAM_WINDOW`` unread items), so it never overruns and never drops."""
        if not isinstance(allow_overruns, bool):
            raise TypeError(f"allow_overruns must be a bool, not {allow_overruns!r}")
        if msg_buffer_size is not None and (
            not isinstance(msg_buffer_size, int) or msg_buffer_size < 0
        ):
            raise ValueError(
                f"msg_buffer_size must be a non-negative int or None, not {msg_buffer_size!r}"
            )
        if self._remote_error is not None:  # e.g. the callee acknowledged our cancel
            raise self._remote_error
        if self._stream_state == "closed":
            raise StreamClosed(
                f"open_stream() in {self._where()}: its stream was opened and closed "
                "already; a context has one stream"
            )
        if self.side == "caller" and self.cancel_called:
            raise ContextError(
                f"open_stream() after ctx.cancel() in {self._where()}: the callee is "
                "being cancelled, there is nobody to stream with"
            )
        if not self._started:
            raise ContextError(
                f"open_stream() before started() in {self._where()}: call "
                "`await ctx.started(first)` first (the caller is still waiting for it)"
            )
        if self._stream_state != "none":
            raise ContextError(
                f"open_stream() called twice in {self._where()}: a context has one "
                "stream, and it is open already"
            )
        self._stream_state = "open"
        self.span.note(schema.CONTEXT_STREAM_OPENED)
        if self.side == "callee":  # the caller owes us its end now (see StreamOpened)
            try:
                await self.chan.send(StreamOpened(cid=self.cid))
            except ChannelClosed:
                pass  # the caller is gone: the stream ends with the channel
        stream = MsgStream(self)
        try:
            yield stream
        except BaseException as exc:
            # a failing side does not say "end of stream": its error (or the cancel
            # it causes) follows, and the peer must see that, not a clean end. The
            # peer's end, let out of the block by a receive, is no failure
            if not self._is_peer_end(exc):
                self._sent_end = True
            await self._close_stream()
            raise
        await self._close_stream()

    async def _send_item(self, value: Any) -> None:
        if self._stream_state == "closed":
            raise StreamClosed(
                f"send() on the stream of {self._where()} after it was closed here "
                "(aclose() or the end of its `async with`): send inside the block"
            )
        while True:
            if self._peer_ended or isinstance(self._final, Return):
                await self._drop_late(value)
                return
            if self._over():
                if self.cancel_acked:  # this side's own cancel: dropped, as in the peer
                    await trio.lowlevel.checkpoint()
                    return
                raise StreamClosed(
                    f"send() on the stream of {self._where()}: the context is over "
                    "(the callee failed or went away)"
                )
            if self._credits > 0:
                break
            # backpressure: the peer holds a window of unread items
            await self._wait(lambda: self._credits > 0 or self._peer_ended or self._over())
            if self._stream_closed():  # closed while we waited
                raise StreamClosed(f"the stream of {self._where()} was closed while sending")
        if self._pld_spec is not None:
            payload.outgoing(self._pld_spec, value, "a value sent on the stream", self._where())
        try:
            frame = pack(StreamItem(cid=self.cid, to_callee=self._to_callee, value=value))
        except IPCEncodeError as exc:
            raise IPCEncodeError(f"value sent on the stream of {self._where()}: {exc}") from None
        self._credits -= 1
        try:
            await self.chan.send_raw(frame)
        except trio.Cancelled:
            # cancelled before any of it went out: no item, so no credit spent (the
            # peer never acks it: a window of such sends stalled the stream for good)
            if not self.chan.handed_off(frame):
                self._credits += 1
                self._wake()  # a sender that found none while this one waited
            raise

    async def _drop_late(self, value: Any) -> None:
        """A send after the peer closed its stream (or returned): dropped, as the
        peer project does, so a reply to what the peer sent before it closed (an
        echo loop's last answers) is no error. A side that already read the peer's
        end, or goes on sending more than a window after it, is told."""
        if self._saw_end or self._late_dropped >= self._window:
            dropped = self._late_dropped
            raise StreamClosed(
                f"send() on the stream of {self._where()}: the {self._peer_side} "
                f"({self.chan.peer}) closed the stream and reads nothing more"
                + (f" ({dropped} sends after it closed were dropped)" if dropped else "")
            )
        self._late_dropped += 1
        log.debug("%s: send after the peer closed its stream: dropped", self._where())
        await trio.lowlevel.checkpoint()

    async def _receive_item(self) -> Any:
        if self._stream_state == "closed":  # this side closed it: its end, as the peer's
            await trio.lowlevel.checkpoint()
            raise trio.EndOfChannel(f"the stream of {self._where()} was closed by this side")
        if self._items:  # no scheduler pass per item already here: one every few
            self._ready_in_a_row += 1
            if self._ready_in_a_row >= YIELD_EVERY:
                self._ready_in_a_row = 0
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            self._ready_in_a_row = 0
            await self._wait(
                lambda: (
                    bool(self._items)
                    or self._peer_ended
                    or self._over()
                    or self._stream_state == "closed"
                ),
                reads=True,
            )
        if self._items:
            value = self._items.popleft()
            self._unacked += 1
            if self._unacked >= max(1, self._window // 2) and not self._over():
                n, self._unacked = self._unacked, 0
                # sent now, or behind another sender's frame from a task: never waited
                # for here, so no cancel comes between the item taken and its return
                # (it was lost with the acknowledgement, the peer's window shrunk)
                ack = encode(StreamAck(cid=self.cid, to_callee=self._to_callee, n=n))
                await _actor_module().send_soon(self.chan, ack)
            if self._pld_spec is not None:
                return self._typed(value, "a stream value")
            return value
        if self._stream_closed():
            raise StreamClosed(f"the stream of {self._where()} was closed while receiving")
        if self.cancel_acked and not self._peer_ended:
            # the acknowledgement of this side's own cancel, handed to its reader:
            # raised, and reaped quietly where the caller's block ends (the peer's rule)
            raise self._remote_error  # type: ignore[misc]
        self._saw_end = True
        self._peer_end = end = trio.EndOfChannel()
        raise end

    def _is_peer_end(self, exc: BaseException | None) -> bool:
        """``exc`` is the ``EndOfChannel`` this side's receive raised for the peer's end
        of the stream (alone, or the one exception of a nursery's group): the stream's
        normal end, no error of the block it escapes (the peer project absorbs it)."""
        return exc is not None and self._peer_end is not None and _only(exc) is self._peer_end

    async def _close_stream(self) -> None:
        if self._stream_state == "closed":
            return
        self._stream_state = "closed"
        self._items.clear()
        self._wake()
        await self._send_end()

    async def _send_end(self) -> None:
        """Tell the peer this side sends nothing more (also from a cancelled task)."""
        if self._sent_end or self._over():
            return
        self._sent_end = True
        frame = encode(StreamEnd(cid=self.cid, to_callee=self._to_callee))
        try:
            await self.chan.send_raw(frame, shield=True)
        except ChannelClosed:
            pass

    async def result(self, *, hide_tb: bool = True) -> Any:
        """Caller: wait for the callee's return value (its error is raised as
        :class:`RemoteActorError`). After this side's own :meth:`cancel`, once the
        callee acknowledged it, the :class:`ContextCancelled` is returned, not
        raised (the peer project's rule: a cancel one asked for is reaped quietly),
        and with no cancellation point: in the block, the code after this call
        runs even when the acknowledgement cancelled the block (up to its next
        checkpoint), as in the peer. Inside the block, the callee's error (or a
        cancel asked by another actor) is raised here whether it came before or
        during this call, not the block's cancellation (the peer's rule: the block
        may catch it). ``hide_tb`` is the peer's option (tracebacks are not hidden)."""
        if self.side != "caller":
            raise ContextError(
                f"result() called by the callee of {self._where()}: the callee's "
                "result is what its function returns"
            )
        if not self.cancel_acked:
            try:
                await self._wait(self._over, reads=True)
            except trio.Cancelled:
                err = self._remote_error
                if err is not None and not self.cancel_acked and self._cancelled_by_callee():
                    # the block was cancelled by the callee's error: that error is
                    # what this wait ends with (whenever it came), as in the peer
                    raise err from None
                raise
        if self.cancel_acked:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return self._remote_error
        return await self._outcome()

    wait_for_result = result

    def _cancelled_by_callee(self) -> bool:
        """Caller: the current task is the one that opened this context, waiting
        directly in its block (not inside a nursery it opened there), and the callee's
        outcome cancelled the block. Only there is the error raised in place of the
        cancellation: it then leaves the block as it is, a ``RemoteActorError``. In a
        nursery of the block (one of its tasks, or its body) it stays a cancellation,
        absorbed by the block, whose exit raises the error: raised there, it would
        leave as that nursery's ``ExceptionGroup`` (once per task that waited)."""
        if self._scope is None or not self._scope.cancel_called or self._done:
            return False
        task = trio.lowlevel.current_task()
        return task is self._opener and len(task.child_nurseries) == self._opener_nurseries

    def _typed(self, value: Any, what: str) -> Any:
        return payload.incoming(
            self._pld_spec, value, what, self._where(), f"the {self._peer_side} {self.chan.peer}"
        )

    def _returned(self, final: Return) -> Any:
        """The callee's return value, converted to the pld_spec once (so ``outcome``
        is the object ``result()`` returned)."""
        if self._pld_spec is None:
            return final.value
        if not self._converted:
            self._converted_value = self._typed(final.value, "the return value")
            self._converted = True
        return self._converted_value

    async def _outcome(self) -> Any:
        if isinstance(self._final, Return):
            return self._returned(self._final)
        if self._remote_error is not None:
            raise self._remote_error
        assert self._portal is not None
        raise await self._portal._gone()

    async def cancel(self, timeout: float = CANCEL_ACK_WAIT) -> None:
        """Cancel the context, as the peer project does. From the caller: ask the
        callee to cancel and wait (shielded) up to ``timeout`` seconds for its
        acknowledgement (``cancel_acked``), then return. The acknowledgement, when
        it comes, is handed to the caller's task if that task waits for the
        callee then (``result()`` returns it, a stream ``receive()`` raises it,
        the block goes on); else it cancels the block at its next checkpoint.
        Either way ``open_context`` exits without raising (a block that ends
        before the acknowledgement waits for it, bounded by
        ``DEVX_CONTEXT_CANCEL_TIMEOUT``). From the callee: it returns, its function
        is cancelled at its next checkpoint and the caller gets
        :class:`ContextCancelled` naming this actor (``timeout`` unused)."""
        if self.cancel_called:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        self.cancel_called = True
        self.span.event(
            schema.CONTEXT_CANCEL,
            **{schema.CONTEXT_CANCELLER: str(self._actor.uid), schema.CONTEXT_SIDE: self.side},
        )
        if self.side == "caller":
            if not self._over():
                await _send_cancel(self.chan, self.cid)
                with trio.CancelScope(shield=True) as cs:
                    cs.deadline = trio.current_time() + timeout
                    await self._wait(self._over)
        else:
            self._cancel_where = _user_stack(sys._getframe(1))
            if self._scope is not None:
                self._scope.cancel()
        # as in the peer project, cancel() itself is never cancelled: the code after
        # it runs up to its next checkpoint (where the callee's function, or a
        # caller's block that the acknowledgement cancelled, is cancelled), as after
        # a trio scope's cancel()
        await trio.lowlevel.cancel_shielded_checkpoint()

    @property
    def cancelled_caught(self) -> bool:
        """Caller: the block was cancelled (and caught it) by the callee's error or
        cancel, or by the acknowledgement of this side's own cancel (the peer
        project's meaning: its context scope's ``cancelled_caught``)."""
        return self._scope is not None and self._scope.cancelled_caught

    def _callee_cancelled(self) -> bool:
        """Caller: the callee ended cancelled (ContextCancelled)."""
        return isinstance(self._remote_error, ContextCancelled)

    @property
    def cancel_acked(self) -> bool:
        """Caller: this side called :meth:`cancel` and the callee acknowledged it
        (its ``ContextCancelled`` names this actor as the canceller)."""
        err = self._remote_error
        return (
            self.cancel_called
            and isinstance(err, ContextCancelled)
            and err.canceller == self._actor.uid
        )

    @property
    def maybe_error(self) -> BaseException | None:
        """Caller: the callee's error as ``result()`` gives it (a
        :class:`ContextCancelled` or :class:`RemoteActorError`, the same object), None
        while there is none (the peer project's name)."""
        return self._remote_error

    @property
    def has_outcome(self) -> bool:
        """Caller: the callee's outcome (its return value or error) has arrived."""
        return self._final is not None

    @property
    def outcome(self) -> Any:
        """Caller: the callee's outcome without waiting (the peer project's name): its
        error (``maybe_error``) or its return value (the object ``result()`` returns),
        None until it arrived (``has_outcome`` tells a returned None apart)."""
        if self._remote_error is not None:
            return self._remote_error
        if isinstance(self._final, Return):
            return self._returned(self._final)
        return None

    @property
    def canceller(self) -> ActorID | None:
        """The :class:`ActorID` of the actor whose task's end cancelled this side of
        the context, the peer project's meaning (compares equal to that actor's
        ``current_actor().uid``; its ``str()`` is ``"name@uuid8"``), None while
        nothing did. This actor's own when it asked for the cancel (``ctx.cancel()``,
        or ``portal.cancel_actor()`` of the callee's actor); else, on the caller, the
        actor the callee's error or ``ContextCancelled`` came from (the callee's: the
        one that asked for a cancel is ``ctx.maybe_error.canceller``); on the callee,
        the actor whose request cancelled it."""
        err = self._remote_error
        me = self._actor.uid
        if err is not None:
            if isinstance(err, ContextCancelled) and err.canceller == me:
                return me
            if isinstance(err, RemoteActorError):
                src: ActorID = err.src_uid
                return src
        if self.cancel_called:
            return me
        return self._cancelled_by


def _user_stack(frame: Any) -> str:
    """The stack above ``frame`` as traceback text, without the runtime's and trio's
    frames: where the user's code called ``ctx.cancel()``."""
    frames = []
    for f, lineno in traceback.walk_stack(frame):
        module = f.f_globals.get("__name__", "")
        if module.startswith("devx.runtime"):  # the call's entry: the user's code is above
            break
        if not module.startswith(("trio", "contextlib")):
            frames.append((f, lineno))
    return "".join(traceback.StackSummary.extract(reversed(frames)).format())


async def _send_cancel(chan: Channel, cid: int) -> None:
    """Ask the callee to cancel (also from a cancelled task). Never dropped while the
    channel lives: behind a busy sender it goes out after that frame, from a task
    (the caller's wait for the acknowledgement keeps its own bound)."""
    await _actor_module().send_soon(chan, encode(CancelCall(cid=cid)))


_actor_mod: Any = None  # devx.runtime.actor, once imported (it imports this module)


def _actor_module() -> Any:
    global _actor_mod
    if _actor_mod is None:
        from . import actor

        _actor_mod = actor
    return _actor_mod


def _attrs(ctx: Context) -> dict[str, Any]:
    """The span's own attributes; the actor's lineage is the sink's to add, as it
    does on every span (building it here again cost each side of a context ~5 us)."""
    if not events.enabled():
        return {}
    uid = ctx.chan.peer_uid
    if uid:
        peer = _peer_text.get(uid)
        if peer is None:  # (str() of an ActorID is a Python call: once a peer)
            if len(_peer_text) >= 1024:
                _peer_text.clear()
            peer = _peer_text[uid] = str(uid)
    else:
        peer = ""
    return {
        schema.CONTEXT_FUNC: ctx.fn_name,
        schema.CONTEXT_SIDE: ctx.side,
        schema.CONTEXT_CID: ctx.cid,
        schema.CONTEXT_PEER_UID: peer,
    }


_peer_text: dict[ActorID, str] = {}


# --- the caller ------------------------------------------------------------------------


def open_context(portal: Portal, fn: Callable[..., Any], **kwargs: Any) -> OpenContext:
    """``Portal.open_context``: start ``fn`` in the portal's actor, wait for its
    ``started`` value, give ``(ctx, first)`` (see :class:`OpenContext`)."""
    return OpenContext(portal, fn, kwargs)


class OpenContext(AbstractAsyncContextManager[tuple["Context", Any]]):
    """The caller's side of a context, ``async with``-ed: entering it starts the
    callee and waits for its ``started`` value, leaving it waits for the callee's
    outcome (see the module's docstring). A class rather than an
    ``asynccontextmanager`` (whose async generator, wrapper and trio's hook on each
    new async generator cost every context ~1.4 us on its critical path); entered
    once. What it does is what that generator did, split at its ``yield``: the span
    and the block's cancel scope are opened and closed by hand."""

    __slots__ = ("_ctx", "_fn", "_kwargs", "_portal", "_scope", "_token")

    def __init__(self, portal: Portal, fn: Callable[..., Any], kwargs: dict[str, Any]):
        self._portal, self._fn, self._kwargs = portal, fn, kwargs
        self._ctx: Context | None = None

    async def __aenter__(self) -> tuple[Context, Any]:
        if self._ctx is not None:
            raise RuntimeError(f"{self._ctx!r}: this portal.open_context() was entered already")
        portal, fn = self._portal, self._fn
        ns, func = func_ref(fn)
        actor = (_actor_mod or _actor_module()).current_actor()
        if not is_context_fn(fn):
            raise ContextError(
                f"{ns}.{func} is not a @devx.context function: decorate it with "
                "@devx.context (it is then called as fn(ctx, **kwargs)), or call a plain "
                "function with portal.run()"
            )
        ctx = self._ctx = Context(
            side="caller",
            chan=portal.channel,
            # the cid _start() is about to take (nothing runs in between): the span has
            # it from its start; set after, it cost the span a change (and its
            # encoding the lineage again, see FileSpan.shared)
            cid=portal.calls.peek(),
            fn_name=f"{ns}.{func}",
            actor=actor,
            portal=portal,
            fn=fn,
        )
        # the span, opened once the Start is out, from when the context began: its cost
        # is then part of the wait for the callee's started() rather than of the way to
        # it. Unless the Start carries its traceparent (links_back: into another tree)
        if portal.links_back:
            span, start_ns = events.open_span(schema.CONTEXT_SPAN, _attrs(ctx)), 0
        else:
            span, start_ns = events.NULL_SPAN, time.time_ns()
        ctx.span = span
        try:
            try:
                cid, _ = await portal._start(ns, func, self._kwargs, context=True, box=_Inbox(ctx))
            except BaseException:  # a failed start is the span's error, as when opened first
                if start_ns:
                    span = ctx.span = events.open_span(schema.CONTEXT_SPAN, _attrs(ctx), start_ns)
                raise
            if cid != ctx.cid:  # not the one foreseen after all: the span says which
                ctx.cid = cid
                span.set(**{schema.CONTEXT_CID: cid})
            if start_ns:
                span = ctx.span = events.open_span(schema.CONTEXT_SPAN, _attrs(ctx), start_ns)
            try:
                # the block's cancel scope, entered by hand now, before the wait for
                # started(): entering it is most of its cost (trio's), which then
                # overlaps that wait instead of lengthening the way from started() to
                # the block. Nothing cancels it before it is the block's (ctx._scope)
                scope = self._scope = trio.CancelScope()
                scope.__enter__()
                try:
                    try:
                        await ctx._wait_reply(lambda: ctx._started or ctx._over())
                        if ctx._started and ctx._pld_spec is not None:
                            ctx._first = ctx._typed(ctx._first, "the started() value")
                    except BaseException:
                        await _cancel_and_wait(ctx)
                        raise
                    if not ctx._started:  # failed (or returned) before started(): raise now
                        first = await ctx._outcome()
                        ctx._started, ctx._first = True, first
                except BaseException as exc:
                    scope.__exit__(type(exc), exc, exc.__traceback__)  # (not its own cancel)
                    raise
                ctx._scope = scope
                if ctx._remote_error is not None or ctx._lost:
                    scope.cancel()
                self._token = _current_ctx.set(ctx)
                ctx._opener = trio.lowlevel.current_task()
                ctx._opener_nurseries = len(ctx._opener.child_nurseries)  # see _cancelled_by_callee
            except BaseException:
                ctx._done = True
                portal.calls.discard(ctx.cid)
                raise
        except BaseException as exc:
            span.record_exception(exc)
            span.end()
            raise
        return ctx, ctx._first

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        try:
            return await self._exit(exc)
        except BaseException as raised:
            if exc is not None and raised is exc:  # propagated as it was (contextlib's way)
                exc.__traceback__ = tb
                return False
            raise

    async def _exit(self, exc: BaseException | None) -> bool:
        """The block is over (``exc``: how it failed); True: ``exc`` is reaped."""
        ctx = self._ctx
        assert ctx is not None
        scope, span = self._scope, ctx.span
        try:
            try:
                try:
                    try:  # `with scope:` around the block and what follows it, by hand
                        # (the stream's end the callee sent, let out of the block by a
                        # receive, is the block's normal end: the callee's outcome
                        # decides, whichever of the two came to this task first)
                        if exc is not None and not ctx._is_peer_end(exc):
                            raise exc
                        # the block is over: the caller sends nothing more, which a
                        # callee that opened its stream is told (now, or once it says
                        # it did); wait for the callee (after ctx.cancel(): for its
                        # acknowledgement, bounded, below). No cancellation point once
                        # there is nothing to wait for (the peer's block ends so after
                        # its own acknowledged cancel)
                        ctx._stream_state = "closed"
                        while True:
                            if ctx._peer_reads:
                                await ctx._send_end()
                            if ctx._over() or ctx.cancel_called:
                                break
                            await ctx._wait_reply(
                                lambda: (
                                    ctx._over()
                                    or ctx.cancel_called
                                    or (ctx._peer_reads and not ctx._sent_end)
                                ),
                                reads=True,
                            )
                    except BaseException as err:
                        if not scope.__exit__(type(err), err, err.__traceback__):
                            raise
                    else:
                        scope.__exit__(None, None, None)
                except BaseException as err:
                    if ctx.cancel_acked and _only(err) is ctx._remote_error:
                        # our own cancel, acknowledged, raised in the block (by
                        # open_stream(), a stream's receive; alone in a nursery's
                        # group): reaped quietly
                        return True
                    # the block failed, or something outside cancelled it: the callee
                    # is cancelled (it sees trio.Cancelled) and the block's own error
                    # raised. As in the peer, that is this side's cancel (cancel_called;
                    # the callee's acknowledgement makes it cancel_acked), unless the
                    # block raised the callee's own ContextCancelled (nothing left to
                    # cancel)
                    if not isinstance(_only(err), ContextCancelled):
                        ctx.cancel_called = True
                    await _cancel_and_wait(ctx)
                    raise
                finally:
                    _current_ctx.reset(self._token)
                if ctx.cancel_called and not ctx._over():
                    await _cancel_and_wait(ctx)
                if isinstance(ctx._final, Return):
                    ctx.span.note(schema.CONTEXT_RESULT)
                    return True
                if ctx._callee_cancelled() and not ctx.cancel_called:  # someone else did
                    canceller = ctx._remote_error.canceller  # type: ignore[union-attr]
                    ctx.span.event(
                        schema.CONTEXT_CANCEL,
                        **{
                            schema.CONTEXT_CANCELLER: str(canceller) if canceller else "",
                            schema.CONTEXT_SIDE: ctx.side,
                        },
                    )
                if ctx.cancel_called and (ctx._remote_error is None or ctx._callee_cancelled()):
                    return True  # we asked for it: the block exits quietly
                await ctx._outcome()  # raises the callee's error, or how its actor went away
                return True
            finally:
                ctx._done = True
                self._portal.calls.discard(ctx.cid)
        except BaseException as err:
            span.record_exception(err)
            raise
        finally:
            span.end()


def _only(exc: BaseException) -> BaseException:
    """``exc``, or the one exception a group (of groups) of one holds."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


async def _cancel_and_wait(ctx: Context) -> None:
    """Cancel the callee and wait (shielded, bounded) until it has finished."""
    if ctx._over():
        return
    with trio.CancelScope(shield=True) as cs:
        cs.deadline = trio.current_time() + settings.current().context_cancel_timeout
        await _send_cancel(ctx.chan, ctx.cid)
        await ctx._wait(ctx._over)


# --- the callee --------------------------------------------------------------------------


async def run_callee(actor: Actor, chan: Channel, msg: Start, fn: Callable[..., Any]) -> Any:
    """Run the context function ``fn`` for ``msg`` (a ``Start`` with ``context``);
    its return value, or its exception, is the call's outcome."""
    name = f"{msg.ns}.{msg.func}"
    if not is_context_fn(fn):
        raise ContextError(
            f"{name} is not a @devx.context function (in actor {actor.path!r}): "
            "decorate it with @devx.context, or call it with portal.run()"
        )
    ctx = Context(side="callee", chan=chan, cid=msg.cid, fn_name=name, actor=actor, fn=fn)
    key = (id(chan), msg.cid)
    actor.contexts[key] = ctx
    token = _current_ctx.set(ctx)
    mod = _actor_mod or _actor_module()
    # the call's own cancel scope (the caller's CancelCall cancels it) is the function's:
    # a scope of its own for ctx.cancel() cost each context ~1/10 of its callee's CPU.
    # Debug mode keeps one (a REPL tells its own code's cancel from the call's by it)
    call = None if actor.debug_mode else mod.call_scope.get()
    try:
        span = ctx.span = events.open_span(schema.CONTEXT_SPAN, _attrs(ctx))
        try:
            if call is not None:
                ctx._scope = call
                try:
                    result = await fn(ctx, **msg.kwargs)
                except BaseException as exc:
                    # cancelled by its own ctx.cancel(), not (also) by the actor's cancel
                    if (
                        ctx.cancel_called
                        and strip_cancelled(exc) is None
                        and not actor.cancel_called.is_set()
                    ):
                        raise _cancelled_itself(ctx, name) from None
                    raise
            else:
                with trio.CancelScope() as own:
                    ctx._scope = own
                    result = await fn(ctx, **msg.kwargs)
                if own.cancelled_caught:
                    raise _cancelled_itself(ctx, name)
            if ctx._pld_spec is not None:
                payload.outgoing(
                    ctx._pld_spec,
                    result,
                    "the return value",
                    ctx._where(),
                    "the caller gets this error instead",
                )
            span.note(schema.CONTEXT_RESULT)
            return result
        except BaseException as exc:  # (what `with events.span()` does, by hand)
            span.record_exception(exc)
            raise
        finally:
            span.end()
    finally:
        _current_ctx.reset(token)
        ctx._done = True
        # the scope may be a parked worker's, which serves other calls after this one:
        # a ctx.cancel() on this context once it is over must not reach them
        ctx._scope = None
        actor.contexts.pop(key, None)


def _cancelled_itself(ctx: Context, name: str) -> ContextCancelled:
    """The error a callee that called its own ``ctx.cancel()`` ends with: this actor
    is the canceller, and the traceback shows where the cancel was asked for."""
    actor = ctx._actor
    message = f"{name} in actor {actor.path!r} cancelled itself (ctx.cancel() in the callee)"
    where = ctx._cancel_where or "  (the call site is unknown)\n"
    tb = f"Traceback (most recent call last):\n{where}devx.ContextCancelled: {message}\n"
    return ContextCancelled(
        ErrorInfo(
            type_name=type_name(ContextCancelled),
            message=message,
            traceback=tb,
            src_uid=actor.uid,
            src_path=actor.path,
            src_pid=actor.pid,
            canceller=actor.uid,
        )
    )


def deliver_to_callee(actor: Actor, chan: Channel, msg: Any) -> None:
    """A stream frame from a caller: to the context it belongs to (dropped when that
    context is over: the caller could not know yet)."""
    ctx = actor.contexts.get((id(chan), msg.cid))
    if ctx is not None:
        ctx._on_msg(msg)


# shown as ``devx.<name>`` (reprs, tracebacks) however this module was first imported,
# as when the package imported them eagerly
present_as("devx", [Context, MsgStream, current_ipc_ctx, context, stream])
