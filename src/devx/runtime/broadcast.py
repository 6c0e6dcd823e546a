"""One stream read by several local tasks, each getting every item
(``MsgStream.subscribe()``, the peer project's broadcast receiver).

One task at a time reads the underlying stream (whichever subscriber asked first
when nothing new was buffered); what it reads is kept in a shared buffer of at most
``maxlen`` items, and every subscriber reads the buffer at its own position. So the
fastest subscriber sets the pace (the stream's own flow control applies to it) and
loses nothing; one that falls more than ``maxlen`` items behind the newest gets
:class:`Lagged` from its next ``receive`` (saying how many it missed), and the
receive after that returns the oldest item still buffered (tokio's broadcast
channel's rule, which the peer project follows). The end of the stream reaches every
subscriber once it has read what came before it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

log = logging.getLogger("devx.runtime")


class Lagged(trio.TooSlowError):
    """A subscriber fell so far behind the fastest one that items it had not read yet
    left the buffer; its next ``receive`` returns the oldest item still there."""


class _Fanout:
    """State shared by the subscribers of one stream. Positions are absolute item
    numbers; ``buf[0]`` is item ``base``."""

    def __init__(
        self,
        receive: Callable[[], Awaitable[Any]],
        maxlen: int,
        what: str,
        raise_on_lag: bool = True,
    ) -> None:
        self.receive = receive
        self.maxlen = max(1, maxlen)
        self.what = what
        self.raise_on_lag = raise_on_lag  # the first subscriber's (the others': their own)
        self.buf: deque[Any] = deque()
        self.base = 0
        self.subs: set[BroadcastReceiver] = set()
        self.reading = False  # a subscriber is waiting on the underlying stream
        self.arrived = trio.lowlevel.ParkingLot()
        self.ended = False

    @property
    def next(self) -> int:
        return self.base + len(self.buf)

    def keep(self, value: Any) -> None:
        self.buf.append(value)
        # drop what every subscriber has read, and beyond maxlen the oldest anyway
        low = min((s._pos for s in self.subs), default=self.next)
        while self.buf and (self.base < low or len(self.buf) > self.maxlen):
            self.buf.popleft()
            self.base += 1

    def outside_read_ended(
        self, sub: BroadcastReceiver, value: Any, exc: BaseException | None, more: bool
    ) -> None:
        """A read of the underlying stream begun before the first subscription (the
        stream's own receive, already waiting then) ended: what it read is ``sub``'s
        (that reader's own) and kept for every other subscriber, as a subscriber's
        read is; its end of stream ends them all. ``more``: another such read still
        waits, so nobody else reads yet."""
        if exc is None:
            sub._pos += 1
            self.keep(value)
        elif isinstance(exc, trio.EndOfChannel):
            self.ended = True
        if not more:
            self.reading = False
        self.arrived.unpark_all()


class BroadcastReceiver:
    """One subscriber's view of a stream: ``receive``, ``async for``, ``send`` (to the
    stream's peer), ``subscribe`` (another subscriber), ``aclose`` (this one only)."""

    def __init__(
        self,
        fanout: _Fanout,
        send: Callable[[Any], Awaitable[None]],
        raise_on_lag: bool | None = None,
    ) -> None:
        self._fanout = fanout
        self._send = send
        # else a lagging subscriber skips what it lost (with a warning)
        self._raise_on_lag = fanout.raise_on_lag if raise_on_lag is None else raise_on_lag
        self._pos = fanout.next  # sees the items that arrive from now on
        self._closed = False
        fanout.subs.add(self)

    def __repr__(self) -> str:
        return f"<BroadcastReceiver of {self._fanout.what}>"

    async def send(self, value: Any) -> None:
        await self._send(value)

    async def receive(self) -> Any:
        f = self._fanout
        while True:
            if self._closed:
                raise trio.ClosedResourceError(
                    f"receive() on a subscriber of {self._fanout.what}: this subscriber was "
                    "closed (aclose(), or the end of its subscribe() block)"
                )
            if self._pos < f.base:
                lost, self._pos = f.base - self._pos, f.base
                task = trio.lowlevel.current_task().name
                if not self._raise_on_lag:
                    log.warning(
                        "subscriber task %r of %s fell behind: %d items were dropped "
                        "before it read them; it goes on with the oldest one still buffered",
                        task,
                        f.what,
                        lost,
                    )
                    continue
                raise Lagged(
                    f"subscriber task {task!r} of {f.what} fell behind: {lost} items "
                    f"were dropped before it read them (the buffer holds {f.maxlen}); "
                    "its next receive returns the oldest one still buffered"
                )
            if self._pos < f.next:
                value = f.buf[self._pos - f.base]
                self._pos += 1
                return value
            if f.ended:
                raise trio.EndOfChannel
            if f.reading:
                await f.arrived.park()
                continue
            f.reading = True
            try:
                value = await f.receive()
            except trio.EndOfChannel:
                f.ended = True
                raise
            finally:
                # cancelled or failed: another waiting subscriber becomes the reader
                f.reading = False
                f.arrived.unpark_all()
            self._pos += 1
            f.keep(value)
            return value

    def __aiter__(self) -> BroadcastReceiver:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    @asynccontextmanager
    async def subscribe(self, raise_on_lag: bool | None = None) -> AsyncIterator[BroadcastReceiver]:
        """Another subscriber of the same stream, closed when the block ends.
        ``raise_on_lag`` (the peer project's keyword) is the new one's own: ``False``
        skips what it lost with a warning instead of :class:`Lagged`; ``None`` takes
        this receiver's. On a closed receiver: ``trio.ClosedResourceError``."""
        if self._closed:
            raise trio.ClosedResourceError(
                f"subscribe() on a closed subscriber of {self._fanout.what}: subscribe from "
                "one still open (a subscriber is closed by aclose() or its block's end)"
            )
        lag = self._raise_on_lag if raise_on_lag is None else raise_on_lag
        async with subscription(self._fanout, self._send, lag) as sub:
            yield sub

    async def aclose(self) -> None:
        """Stop receiving here; the stream and the other subscribers go on."""
        if not self._closed:
            self._closed = True
            self._fanout.subs.discard(self)

    async def __aenter__(self) -> BroadcastReceiver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def fanout(
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
    *,
    maxlen: int,
    what: str,
    raise_on_lag: bool = True,
) -> BroadcastReceiver:
    """A first subscriber of ``receive`` (the stream's own), and the shared state."""
    return BroadcastReceiver(_Fanout(receive, maxlen, what, raise_on_lag), send)


def broadcast_receiver(
    recv_chan: Any,
    max_buffer_size: int,
    receive_afunc: Callable[[], Awaitable[Any]] | None = None,
    raise_on_lag: bool = True,
) -> BroadcastReceiver:
    """The peer project's ``trionics.broadcast_receiver``: a first subscriber of any
    receive channel (an object with ``async receive()``, such as a trio
    ``MemoryReceiveChannel`` or ``to_asyncio``'s channel; ``receive_afunc`` replaces its
    ``receive``), on which ``subscribe()`` gives more, each getting every item from then
    on. A subscriber more than ``max_buffer_size`` items behind the fastest gets
    :class:`Lagged` (``raise_on_lag=False``: a warning, and it goes on from the oldest
    item still buffered). ``send`` goes to the channel's ``send`` when it has one."""
    receive = receive_afunc if receive_afunc is not None else getattr(recv_chan, "receive", None)
    if receive is None:
        raise TypeError(
            f"broadcast_receiver(): {recv_chan!r} has no receive(); give a receive channel "
            "or receive_afunc="
        )

    async def send(value: Any) -> None:
        send_fn = getattr(recv_chan, "send", None)
        if send_fn is None:
            raise TypeError(f"send() on a broadcast receiver of {recv_chan!r}: it has no send()")
        await send_fn(value)

    return fanout(
        receive, send, maxlen=max_buffer_size, what=repr(recv_chan), raise_on_lag=raise_on_lag
    )


@asynccontextmanager
async def subscription(
    f: _Fanout, send: Callable[[Any], Awaitable[None]], raise_on_lag: bool | None = None
) -> AsyncIterator[BroadcastReceiver]:
    sub = BroadcastReceiver(f, send, raise_on_lag)
    try:
        yield sub
    finally:
        await sub.aclose()
