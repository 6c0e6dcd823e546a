"""asyncio code in an actor (the peer project's ``tractor.to_asyncio``).

An actor started with ``infect_asyncio=True`` (``an.start_actor`` / ``run_in_actor``)
runs its trio program as a guest of an asyncio loop; from its trio tasks:

* ``await run_task(aio_fn, **kwargs)`` runs ``aio_fn(**kwargs)`` as an asyncio task and
  returns its result (its error is raised; cancelling the trio side cancels it);
* ``async with open_channel_from(aio_fn, **kwargs) as (chan, first)`` runs
  ``aio_fn(chan, **kwargs)`` (``aio_fn(chan=chan, **kwargs)`` when it has a parameter
  named ``chan``, as the peer passes it) as an asyncio task linked to the block: it calls
  ``chan.started_nowait(first)`` once, then both sides talk (trio: ``await
  chan.send(x)``, ``await chan.receive()``, ``async for``; asyncio: ``await
  chan.get()``, ``chan.send_nowait(x)``). Its error cancels the block and is raised
  out of it; the block's end (or error, or cancellation) cancels it; its return ends
  the trio side's ``async for``.

A root runs as a guest with ``run_as_asyncio_guest(main)`` instead of ``trio.run(main)``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .core import settings
from .runtime.asyncio_guest import run as run_as_asyncio_guest

if TYPE_CHECKING:
    from .runtime.broadcast import BroadcastReceiver


class AsyncioCancelled(Exception):
    """The asyncio task was cancelled on the asyncio side, not by its trio caller."""


def _loop(what: str) -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"devx.to_asyncio.{what}: this process runs no asyncio loop; start the actor "
            "with infect_asyncio=True (an.start_actor / an.run_in_actor), or run the root "
            "with devx.to_asyncio.run_as_asyncio_guest(main) instead of trio.run(main)"
        ) from None


def _name(task: asyncio.Task[Any]) -> str:
    return f"asyncio task {task.get_name()}"


def _start(
    loop: asyncio.AbstractEventLoop,
    aio_fn: Callable[..., Coroutine[Any, Any, Any]],
    /,
    *args: Any,
    **kwargs: Any,
) -> asyncio.Task[Any]:
    """``aio_fn(*args)`` as an asyncio task named after the function. In a debug-mode
    actor the task gets a greenback portal first, so ``breakpoint()`` and
    ``pause_from_sync()`` in it wait for the tree's TTY lock like any other pause."""
    coro = aio_fn(*args, **kwargs)
    name = getattr(aio_fn, "__qualname__", None) or repr(aio_fn)
    if _debugging():
        coro = _with_portal(coro)
    return loop.create_task(coro, name=name)


def _debugging() -> bool:
    from .runtime.actor import current_actor

    actor = current_actor(err_on_no_runtime=False)
    return actor is not None and actor.debug_mode


async def _with_portal(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import greenback
    except ImportError:  # a dependency of devx: only a broken install lacks it
        return await coro
    await greenback.ensure_portal()
    return await coro


def _outcome(task: asyncio.Task[Any]) -> Any:
    """The finished task's result; its error raised; a cancel from asyncio's side as
    :class:`AsyncioCancelled`."""
    if task.cancelled():
        raise AsyncioCancelled(f"{_name(task)} was cancelled on the asyncio side")
    exc = task.exception()
    if exc is not None:
        raise exc
    return task.result()


async def _cancel_and_wait(task: asyncio.Task[Any], finished: trio.Event) -> None:
    """Cancel ``task`` and wait for it to end (shielded, at most DEVX_CANCEL_GRACE:
    an asyncio task that ignores its cancellation is left to the loop's end)."""
    task.cancel()
    with trio.CancelScope(shield=True) as cs:
        cs.deadline = trio.current_time() + settings.current().cancel_grace
        await finished.wait()


def _watch(task: asyncio.Task[Any], on_done: Callable[[], None] | None = None) -> trio.Event:
    finished = trio.Event()

    def done(_: object) -> None:  # on the loop's thread, where trio's guest runs too
        finished.set()
        if on_done is not None:
            on_done()

    task.add_done_callback(done)
    return finished


async def run_task(
    func: Callable[..., Coroutine[Any, Any, Any]] | None = None, /, **kwargs: Any
) -> Any:
    """Run ``func(**kwargs)`` as an asyncio task and return its result. ``func=f``
    (the peer's name) works too when no function is given by position; given by
    position, a ``func=`` keyword is the function's own argument."""
    func = _the_function(func, kwargs, "func", "run_task")
    task = _start(_loop("run_task"), func, **kwargs)
    finished = _watch(task)
    try:
        await finished.wait()
    except BaseException:
        await _cancel_and_wait(task, finished)
        raise
    return _outcome(task)


def _the_function(
    given: Callable[..., Coroutine[Any, Any, Any]] | None,
    kwargs: dict[str, Any],
    name: str,
    api: str,
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The asyncio function to run: ``given`` by position, else the peer's keyword
    ``name`` taken out of ``kwargs``."""
    fn = kwargs.pop(name) if given is None and name in kwargs else given
    if not callable(fn):
        raise TypeError(
            f"{api}() needs the asyncio function to run, by position ({api}(fn, **kwargs)) "
            f"or as {name}=fn; got {fn!r}"
        )
    return fn


# items the fastest subscriber of a LinkedTaskChannel may be ahead of the slowest (the
# peer's default queue size)
SUBSCRIBE_BUFFER = 1024


class LinkedTaskChannel:
    """The two ends of a trio block and its asyncio task (see the module docstring)."""

    def __init__(self) -> None:
        self._to_aio: asyncio.Queue[Any] = asyncio.Queue()
        self._to_trio, self._from_aio = trio.open_memory_channel[Any](math.inf)
        self._started = False
        self._first: Any = None
        self._wake = trio.Event()  # started, or the task ended
        self._task: asyncio.Task[Any] | None = None
        self._primary: BroadcastReceiver | None = None  # once a task subscribed
        self._reading = 0  # receives waiting on the task's items themselves

    def __repr__(self) -> str:
        return f"<LinkedTaskChannel of {_name(self._task) if self._task else 'no task yet'}>"

    # --- the asyncio side ---------------------------------------------------------------

    def started_nowait(self, value: Any = None) -> None:
        """Hand the trio side its first value (``open_channel_from`` yields it)."""
        if self._started:
            raise RuntimeError(f"{self!r}: started_nowait() called twice")
        self._started, self._first = True, value
        self._wake.set()

    def send_nowait(self, item: Any) -> None:
        """asyncio -> trio (never blocks: the trio side's buffer is unbounded)."""
        self._to_trio.send_nowait(item)

    async def get(self) -> Any:
        """trio -> asyncio: the next item the trio side sent."""
        return await self._to_aio.get()

    # --- the trio side ------------------------------------------------------------------

    async def send(self, item: Any) -> None:
        """trio -> asyncio."""
        if self._task is not None and self._task.done():
            raise trio.ClosedResourceError(f"send() on {self!r}: the asyncio task has ended")
        self._to_aio.put_nowait(item)
        await trio.lowlevel.checkpoint()

    async def receive(self) -> Any:
        """asyncio -> trio; ``trio.EndOfChannel`` once the task returned and everything
        it sent was read."""
        if self._primary is not None:
            return await self._primary.receive()
        self._reading += 1
        try:
            value = await self._from_aio.receive()
        except BaseException as exc:
            self._reading -= 1
            if self._primary is not None:  # a task subscribed while this one waited
                self._primary._fanout.outside_read_ended(
                    self._primary, None, exc, self._reading > 0
                )
            raise
        self._reading -= 1
        if self._primary is not None:
            self._primary._fanout.outside_read_ended(self._primary, value, None, self._reading > 0)
        return value

    def __aiter__(self) -> LinkedTaskChannel:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[BroadcastReceiver]:
        """One more trio task reading what the asyncio task sends (the peer's fan-out):
        each subscriber, and this channel's own ``receive``/``async for``, gets every
        item from the moment it subscribed; one more than ``SUBSCRIBE_BUFFER`` items
        behind the fastest gets :class:`devx.trionics.Lagged`. The subscriber's ``send``
        goes to the asyncio task. Closed (for that task only) when the block ends."""
        if self._primary is None:
            from .runtime import broadcast

            self._primary = broadcast.fanout(
                self._from_aio.receive, self.send, maxlen=SUBSCRIBE_BUFFER, what=repr(self)
            )
            if self._reading:  # the channel's own receive waits: it reads for everyone
                self._primary._fanout.reading = True
        async with self._primary.subscribe() as sub:
            yield sub

    async def wait_for_result(self) -> Any:
        """The asyncio task's return value, once it returns."""
        assert self._task is not None
        await _watch(self._task).wait()
        return _outcome(self._task)


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _takes_chan_by_name(aio_fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        param = inspect.signature(aio_fn).parameters.get("chan")
    except (TypeError, ValueError):  # no signature to read (a builtin, a C function)
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


@asynccontextmanager
async def open_channel_from(
    target: Callable[..., Coroutine[Any, Any, Any]] | None = None,
    /,
    suppress_graceful_exits: bool = True,
    **kwargs: Any,
) -> AsyncIterator[tuple[LinkedTaskChannel, Any]]:
    """Run ``target(chan, **kwargs)`` as an asyncio task linked to the block; yield
    ``(chan, first)`` once it called ``chan.started_nowait(first)``. A function with
    a parameter named ``chan`` gets it by that name (the peer's rule: its channel
    need not be the first parameter); ``target=f`` (the peer's name) works too when
    no function is given by position (given by position, a ``target=`` keyword, say
    a host to connect to, is the function's own). ``suppress_graceful_exits``: the
    peer's option, True only: either side ending normally ends the other's reads
    quietly (``EndOfChannel``, a cancel), never as an error."""
    target = _the_function(target, kwargs, "target", "open_channel_from")
    if not suppress_graceful_exits:
        raise ValueError(
            f"open_channel_from({_fn_name(target)}, suppress_graceful_exits=False): devx "
            "always ends a side whose peer ended normally quietly (the trio side's "
            "async for ends, the asyncio task is cancelled); it has no TrioTaskExited/"
            "AsyncioTaskExited to raise instead: leave the option out"
        )
    loop = _loop("open_channel_from")
    chan = LinkedTaskChannel()
    if "chan" not in kwargs and _takes_chan_by_name(target):
        task = chan._task = _start(loop, target, chan=chan, **kwargs)
    else:
        task = chan._task = _start(loop, target, chan, **kwargs)
    scope = trio.CancelScope()
    failed: list[BaseException] = []

    def on_done() -> None:
        chan._wake.set()
        if task.cancelled():
            if not cancelling:
                failed.append(AsyncioCancelled(f"{_name(task)} was cancelled on the asyncio side"))
        elif (exc := task.exception()) is not None:
            failed.append(exc)
        if failed:  # raised out of the block: a receive() waiting then is cancelled,
            scope.cancel()  # not ended (an EndOfChannel would have hidden the error)
        else:
            chan._to_trio.close()  # the trio side's receive ends once it read everything

    cancelling = False
    finished = _watch(task, on_done)
    try:
        await chan._wake.wait()
    except BaseException:
        cancelling = True
        await _cancel_and_wait(task, finished)
        raise
    if not chan._started:
        result = _outcome(task)  # its error, if it failed
        raise RuntimeError(
            f"{_name(task)} returned {result!r} before calling chan.started_nowait(): "
            "open_channel_from() waits for that first value"
        )
    try:
        with scope:
            yield chan, chan._first
    finally:
        if not task.done():
            cancelling = True
            await _cancel_and_wait(task, finished)
    if failed:
        raise failed[0]


__all__ = [
    "AsyncioCancelled",
    "LinkedTaskChannel",
    "open_channel_from",
    "run_as_asyncio_guest",
    "run_task",
]
