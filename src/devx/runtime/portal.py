"""Portal: the caller's handle on another actor. ``run`` a function there and get its
result (or its boxed error), stream from an async generator there, cancel it."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ..core import events
from ..core.public import present_as
from . import registry as _registry
from . import replywait
from .errors import (
    ChannelClosed,
    ContextCancelled,
    IPCEncodeError,
    MsgTypeError,
    type_name,
    unbox_error,
)
from .ipc import CallTable, Channel, Mailbox, encode, pack
from .msgs import CancelActor, CancelCall, Error, Return, Start, Stop, StreamAck, Yield

if TYPE_CHECKING:
    from .actor import Actor
    from .child_record import ChildRecord
    from .context import Context

_CC = type_name(ContextCancelled)

# what run() checks of a function, once per function (per code object): its code, and
# the (module, qualname) by which the remote actor finds it
_run_refs: dict[Any, tuple[Any, str, str]] = {}
_RUN_REFS_MAX = 1024


def func_ref(fn: Callable[..., Any]) -> tuple[str, str]:
    """``(module, qualname)`` by which a remote actor finds ``fn``."""
    mod = getattr(fn, "__module__", None)
    qual = getattr(fn, "__qualname__", None)
    if not mod or not qual:
        raise TypeError(f"{fn!r} is not a module-level function: it cannot be called remotely")
    if "<locals>" in qual or "<lambda>" in qual:
        raise TypeError(
            f"{mod}.{qual} is a local function or lambda: only functions defined at module "
            "level can be called in another actor"
        )
    if mod == "__mp_main__":
        mod = "__main__"
    return mod, qual


def _cancelled_by_us(msg: Error) -> bool:
    """``msg`` says the call was cancelled at this actor's own request."""
    from .actor import current_actor

    info = msg.error
    if info.type_name != _CC or info.canceller is None:
        return False
    me = current_actor(err_on_no_runtime=False)
    return me is not None and info.canceller == me.uid


class StreamFrom:
    """What ``open_stream_from`` yields: the remote generator's items, read with
    ``async for`` or ``anext()`` as any async iterator, or with ``receive()`` as the
    peer project's ``MsgStream`` (``trio.EndOfChannel`` once the generator ended).
    A read that is cancelled takes nothing and leaves the stream as it was: the next
    one gets the item it would have got (an async generator here ended the stream
    at the first cancel, as if the remote generator had)."""

    __slots__ = ("_cid", "_closed", "_every", "_portal", "_recv", "_unacked", "finished")

    def __init__(self, portal: Portal, cid: int, recv: Mailbox, every: int) -> None:
        self._portal, self._cid, self._recv, self._every = portal, cid, recv, every
        self._unacked = 0
        self.finished = False  # the generator's end or error came
        self._closed = False  # aclose() here

    def __aiter__(self) -> StreamFrom:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive(self) -> Any:
        portal, recv = self._portal, self._recv
        while not (self.finished or self._closed):
            msg = await portal._next(recv)  # cancelled: nothing taken
            if isinstance(msg, Yield):
                self._unacked += 1
                if self._unacked >= self._every:  # the sender may send as many more
                    self._unacked = 0
                    await portal._ack(self._cid, self._every)  # (never waits)
                return msg.value
            if isinstance(msg, Stop):
                self.finished = True
            elif isinstance(msg, Error):
                self.finished = True
                raise unbox_error(msg.error)
        await trio.lowlevel.checkpoint()
        if self._closed and not self.finished:
            raise trio.EndOfChannel("the stream was closed here (aclose())")
        raise trio.EndOfChannel("the remote generator ended")

    async def aclose(self) -> None:
        self._closed = True
        await trio.lowlevel.checkpoint()


def _positional_args_error(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """What to say of ``portal.run(fn, *args)``: a remote call's arguments travel by
    name, and here is the call with them named (from ``fn``'s signature)."""
    name = getattr(fn, "__qualname__", None) or _short_repr(fn)
    given = ", ".join(_short_repr(a) for a in args)
    try:
        bound = inspect.signature(fn).bind_partial(*args).arguments
        named = ", ".join(f"{k}={_short_repr(v)}" for k, v in bound.items())
        hint = f": portal.run({name}, {named})"
    except (TypeError, ValueError):  # more than it takes, or no signature to read
        hint = ""
    if all(isinstance(a, str) for a in args):  # (the older form by name, mixed up?)
        hint += (
            "; a function named by module and name is "
            "portal.run_from_ns('module', 'function', **kwargs)"
        )
    return (
        f"portal.run({name}, {given}): a remote call takes its arguments by keyword "
        f"only, as in the peer project{hint}"
    )


def _short_repr(value: Any) -> str:
    """``repr(value)`` for an error message: cut short (an argument may be 10 MB of
    bytes), and a placeholder when its ``__repr__`` raises (the message must not)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    try:
        return short.repr(value)
    except Exception as err:
        return f"<{type(value).__name__}: its __repr__ raised {type(err).__name__}>"


class Portal:
    """A handle on a (usually child) actor reachable over ``channel``."""

    # calls carry the traceparent of the current span (an actor of another tree,
    # :class:`~devx.runtime.discovery.TreePortal`); within a tree they carry none
    links_back = False

    def __init__(self, channel: Channel, *, child: ChildRecord | None = None):
        self.channel = channel
        self._child = child

    def __repr__(self) -> str:
        return f"<Portal to {self.channel.peer}>"

    @property
    def calls(self) -> CallTable:
        return self.channel.calls

    async def _gone(self) -> BaseException:
        if self._child is not None:
            # the channel may close a moment before the process is reaped: wait for
            # the exit code so the error can say how the actor died; at most 1 s, even
            # when cancelled meanwhile (one scope: a shield inside a move_on_after
            # would keep the move_on_after's own deadline out, and wait forever for a
            # child whose channel closed while it lives on)
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 1.0):
                await self._child.exited.wait()
            return self._child.gone_error()
        reason = str(self.calls.closed_reason or "channel closed")
        who = f"actor {self.channel.peer}"
        if reason.startswith(f"{who} "):  # ("actor X disconnected": X once)
            reason = reason[len(who) + 1 :]
        return ChannelClosed(f"{who} went away: {reason}")

    @property
    def chan(self) -> Channel:
        """The channel to the actor (``chan.aid``: its id)."""
        return self.channel

    @property
    def actor(self) -> Actor:
        """The peer project's ``Portal.actor``: this process's own actor (the one
        calling through the portal), not the far one (that is ``chan.aid``)."""
        from .actor import current_actor

        return current_actor()

    async def _start(
        self,
        ns: str,
        func: str,
        kwargs: dict[str, Any],
        stream: bool = False,
        *,
        context: bool = False,
        box: Mailbox | None = None,
    ) -> tuple[int, Mailbox]:
        chan = self.channel
        calls = chan.calls
        if chan.closed or calls.closed_reason is not None:
            raise await self._gone()
        cid, recv = calls.open(box)
        try:
            start = Start(cid, ns, func, kwargs, stream, context)  # (positional: cheaper)
            if self.links_back:  # the callee's span serving it links back to ours
                start.trace = events.carrier().get("traceparent", "")
            frame = pack(start) if kwargs else encode(start)  # (raw only for an argument)
        except IPCEncodeError as exc:
            calls.discard(cid)
            raise IPCEncodeError(f"arguments of {ns}.{func} cannot be sent: {exc}") from None
        try:
            # the reply wait follows; cancelled with the frame half out, the caller
            # leaves and the callee gets the call, then its cancel
            await chan.send_raw(frame, checkpoint=False, cut_cancels=cid)
        except ChannelClosed:
            calls.discard(cid)
            raise await self._gone() from None
        except BaseException:  # cancelled before the frame went out: nothing will answer
            calls.discard(cid)
            raise
        return cid, recv

    def start_nowait(self, ns: str, func: str, **kwargs: Any) -> tuple[int, Mailbox] | None:
        """Send the call ``ns.func(**kwargs)`` from synchronous code on the loop's
        thread, now (see :meth:`Channel.send_nowait`): its cid and reply box, for
        :meth:`result_of`; None, with nothing sent, when the channel cannot take it
        at once (call :meth:`run_from_ns` then)."""
        if self.links_back or self.channel.closed or self.calls.closed_reason is not None:
            return None  # (a call that carries a traceparent takes the async path)
        cid, recv = self.calls.open()
        try:
            sent = self.channel.send_nowait(pack(Start(cid=cid, ns=ns, func=func, kwargs=kwargs)))
        except IPCEncodeError:
            sent = False  # the async path raises it, with the call named
        if not sent:
            self.calls.discard(cid)
            return None
        return cid, recv

    async def result_of(self, call: tuple[int, Mailbox], ns: str, func: str) -> Any:
        """The result of a call :meth:`start_nowait` sent, as :meth:`run_from_ns`
        returns it (its frame's rest written first, if the socket took only part)."""
        return await self._reply(call, ns, func, flush=True)

    async def _cancel_call(self, cid: int) -> None:
        """Ask the callee to cancel a call (also from a cancelled task). Never dropped
        while the channel lives (a callee left running, a stream never ended); behind
        a busy sender it goes out after that frame, from a task: the cancelled caller
        leaves at once."""
        from .actor import send_soon

        await send_soon(self.channel, encode(CancelCall(cid=cid)))

    async def _ack(self, cid: int, n: int) -> None:
        """Give the generator ``n`` more credits: now, or behind another sender's frame
        from a task (never waited for: a cancel there lost the item just read, with
        the credits). A closed channel: the stream's end comes through the mailbox."""
        from .actor import send_soon

        await send_soon(self.channel, encode(StreamAck(cid=cid, to_callee=True, n=n)))

    async def _next(self, recv: Mailbox) -> Any:
        try:
            return await recv.receive()
        except trio.EndOfChannel:
            raise await self._gone() from None

    async def run(self, fn: Callable[..., Any] | str, *fn_name: str, **kwargs: Any) -> Any:
        """Call ``fn(**kwargs)`` in the remote actor and return its result. A remote
        exception is raised here as :class:`RemoteActorError`; a cancel by another
        actor as :class:`ContextCancelled` naming it, while a cancel this actor asked
        for (``cancel_actor()``) ends the call with None. The peer project's older
        ``run("module", "function", **kwargs)`` is :meth:`run_from_ns` (with its
        ``DeprecationWarning``)."""
        __tracebackhide__ = True  # pytest: its traceback and --pdb stop at the caller
        if fn_name or isinstance(fn, str):
            return await self._run_by_name(fn, fn_name, kwargs)
        try:
            ref = _run_refs.get(fn)
        except TypeError:  # unhashable: func_ref() says what is wrong with it
            ref = None
        if ref is None or ref[0] is not getattr(fn, "__code__", None):
            if inspect.isasyncgenfunction(fn):
                raise TypeError(f"{fn.__qualname__} is an async generator: use open_stream_from()")
            ns, func = func_ref(fn)
            if len(_run_refs) >= _RUN_REFS_MAX:
                _run_refs.clear()
            ref = _run_refs[fn] = (getattr(fn, "__code__", None), ns, func)
        if type(self) is not Portal:  # a subclass may wrap run_from_ns (TreePortal's span)
            return await self.run_from_ns(ref[1], ref[2], **kwargs)
        ns, func = ref[1], ref[2]
        return await self._reply(await self._start(ns, func, kwargs, stream=False), ns, func)

    async def _run_by_name(
        self, ns: Callable[..., Any] | str, names: tuple[str, ...], kwargs: dict[str, Any]
    ) -> Any:
        func = names[0] if len(names) == 1 else None
        if callable(ns) and not isinstance(ns, str):  # portal.run(fn, 5): args by position
            raise TypeError(_positional_args_error(ns, names))
        if not isinstance(ns, str) or not isinstance(func, str):
            args = ", ".join(_short_repr(a) for a in (ns, *names))
            raise TypeError(
                f"portal.run({args}): give the function itself, as "
                "portal.run(fn, **kwargs), or its module and name as strings, as "
                "portal.run_from_ns('module', 'function', **kwargs)"
            )
        warnings.warn(
            f"portal.run({ns!r}, {func!r}) is deprecated (as in the peer project): pass "
            f"the function, or call portal.run_from_ns({ns!r}, {func!r})",
            DeprecationWarning,
            stacklevel=3,
        )
        return await self.run_from_ns(ns, func, **kwargs)

    async def run_from_ns(self, ns: str, func: str, **kwargs: Any) -> Any:
        """Like :meth:`run` with the function named by module and qualname. The peer
        project's registrar calls on a registrar's portal (``run_from_ns("self",
        "get_registry")``, ``"find_actor"``, ``"wait_for_actor"``) are its lookups."""
        if ns == "self" and func in _registry.PEER_CALLS:
            ns = _registry.NS
        return await self._reply(await self._start(ns, func, kwargs, stream=False), ns, func)

    async def _reply(
        self, call: tuple[int, Mailbox], ns: str, func: str, *, flush: bool = False
    ) -> Any:
        """Wait for the reply to a call sent (``flush``: the rest of its frame written
        first, see :meth:`start_nowait`); a wait that fails cancels the call at the
        callee."""
        __tracebackhide__ = True  # pytest: its traceback and --pdb stop at the caller
        cid, recv = call
        chan = self.channel
        calls = chan.calls
        try:
            if flush:
                await chan.flush()
                # (a cancellation point again after a flush that waited: a reply read
                # directly is returned without one of its own, see Channel.read_reply)
                await trio.lowlevel.checkpoint_if_cancelled()
            poll = chan.reply_poll
            if poll is False:
                poll = chan.reply_poll = replywait.poller()
            if poll is None or (fd := chan.fileno()) < 0:
                msg = await self._wait_reply(chan, cid, recv)
            else:  # polled for a little before the loop sleeps (see replywait)
                poll.expect(fd)
                try:
                    msg = await self._wait_reply(chan, cid, recv)
                finally:
                    poll.done(fd)
        except trio.EndOfChannel:  # (as _next says it)
            raise await self._gone() from None
        except BaseException:
            if chan.holds_baton():  # lent with the reply, and the wait did not end well
                chan.release_baton()
            if cid in calls.pending:
                await self._cancel_call(cid)
            raise
        finally:
            calls.discard(cid)
        if type(msg) is Return:  # (the usual outcome, without a call)
            return msg.value
        return self._outcome(msg, ns, func)

    @staticmethod
    async def _wait_reply(chan: Channel, cid: int, recv: Mailbox) -> Any:
        """The reply, read off the socket by this task when it can take the channel's
        read baton (see :meth:`Channel.read_reply`), else from the mailbox (the
        reader may lend the baton with the reply: given back here)."""
        if not recv._items and chan.take_baton():
            msg = await chan.read_reply(cid, recv)  # gives the baton back
            if msg is not None:
                return msg
            if recv._items or recv.closed:
                return await recv.take()
            # it read something for the reader (a call from the peer, a stream's item):
            # the reply comes through the reader
        recv.direct = True
        msg = await recv.receive()
        if chan.holds_baton():
            chan.release_baton()
        return msg

    def _outcome(self, msg: Any, ns: str, func: str) -> Any:
        __tracebackhide__ = True  # pytest: its traceback and --pdb stop at the caller
        if isinstance(msg, Return):
            return msg.value
        if isinstance(msg, Error):
            if _cancelled_by_us(msg):
                # this actor asked for it (portal.cancel_actor(), an.cancel()): as in
                # trio and the peer project, a cancel is not raised back to its
                # requester; the call simply has no result
                return None
            raise unbox_error(msg.error)
        raise MsgTypeError(
            f"unexpected {type(msg).__name__} reply to {ns}.{func} from {self.channel.peer}"
        )

    @asynccontextmanager
    async def open_stream_from(
        self, fn: Callable[..., Any], **kwargs: Any
    ) -> AsyncIterator[StreamFrom]:
        """Run the async generator ``fn(**kwargs)`` remotely; iterate what it yields
        (``async for``, ``anext()``, or the peer project's ``await stream.receive()``).
        Leaving the block early cancels the remote generator. The generator runs at
        most a window of items (``DEVX_STREAM_WINDOW``) ahead of what is read here."""
        from .context import ack_every
        from .inline import is_context_fn

        ns, func = func_ref(fn)
        # refused here, before anything is sent: the callee's refusal reached only a
        # caller that read the stream (a block that left without reading lost it)
        if is_context_fn(fn):
            raise TypeError(
                f"open_stream_from({ns}.{func}): it is a @devx.context function; open it "
                "with portal.open_context() and ctx.open_stream()"
            )
        if not inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"open_stream_from({ns}.{func}): not an async generator function (an "
                "`async def` that yields); call it with portal.run()"
            )
        cid, recv = await self._start(ns, func, kwargs, stream=True)
        stream = StreamFrom(self, cid, recv, ack_every())
        try:
            yield stream
        finally:
            if not stream.finished and cid in self.calls.pending:
                await self._cancel_call(cid)
            self.calls.discard(cid)

    def open_context(
        self, fn: Callable[..., Any], **kwargs: Any
    ) -> AbstractAsyncContextManager[tuple[Context, Any]]:
        """Open the ``@devx.context`` function ``fn(ctx, **kwargs)`` in the remote
        actor: ``async with portal.open_context(fn, ...) as (ctx, first)``, where
        ``first`` is what it passed to ``ctx.started()``. See :mod:`.context`."""
        from .context import open_context

        return open_context(self, fn, **kwargs)

    async def result(self) -> Any:
        """The return value of the function started by ``run_in_actor`` (waits for it)."""
        if self._child is None or self._child.fn is None:
            raise RuntimeError("result() is only for portals returned by run_in_actor()")
        return await self._child.wait_result()

    wait_for_result = result  # the peer project's name

    async def cancel_actor(self, *, timeout: float | None = None, hard_kill: bool = False) -> bool:
        """Ask the actor to cancel all its tasks and exit; wait until it is gone
        (escalating to SIGTERM, then SIGKILL, for a child that does not comply).
        Returns True when it went away gracefully. ``hard_kill=True``: SIGKILL a child
        of this actor at once, asking nothing (returns False)."""
        if hard_kill:
            if self._child is None:
                raise ValueError(
                    f"cancel_actor(hard_kill=True): {self!r} is not a child of this actor, "
                    "and only its parent may kill its process; cancel it "
                    "gracefully (cancel_actor()), or hard-kill it from its parent"
                )
            await self._child.kill()
            return False
        if self._child is not None:
            return await self._child.stop(timeout=timeout)
        with trio.CancelScope(shield=True):
            try:
                await self.channel.send(CancelActor(reason="cancel_actor()"))
            except ChannelClosed:
                return False
        return True


# shown as ``devx.Portal`` however this module was first imported (see devx.runtime)
present_as("devx", [Portal])
