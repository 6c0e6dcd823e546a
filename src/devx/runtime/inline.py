"""Which calls a channel's reader may run inline, without a task of their own.

A call runs inline when it cannot wait for anything: a plain sync function (it
would block the actor's loop from any task anyway), or an ``async def`` whose code
has no suspension point at all (no ``await``, ``async for`` or ``async with``), so
that one ``coro.send(None)`` runs its coroutine to the end.

Why not start every coroutine inline and hand it to a task when it suspends: in
trio a coroutine's first step already ties it to the task that runs it (the cancel
scopes it enters, the waiters it registers before yielding a trap, e.g.
``wait_readable`` or a parking lot, are the *current task*'s), so a coroutine
started in the reader cannot soundly be resumed by another task. And with trio
every await of a trio primitive is a checkpoint, so an async function that awaits
anything real suspends on its first step anyway: the only calls that could
complete inline are the ones this static check finds.
"""

from __future__ import annotations

import contextvars
import dis
import inspect
import sys
import types
from collections.abc import Callable, Coroutine
from types import CodeType
from typing import Any

NOT_INLINE, SYNC, ASYNC = 0, 1, 2

# what ``@devx.context`` sets on its function (a context never runs inline); here, not
# in devx.runtime.context, so that an actor serving plain calls need not import that
CONTEXT_MARK = "__devx_context__"


def is_context_fn(fn: Any) -> bool:
    return getattr(fn, CONTEXT_MARK, False) is True


# a frame can only give control back to its driver at one of these (an ``await``
# compiles to GET_AWAITABLE, SEND, YIELD_VALUE; ``async for``/``async with`` await)
_SUSPENDING = frozenset({"YIELD_VALUE", "YIELD_FROM", "GET_AWAITABLE", "SEND"})
# a Python whose bytecode no longer has these names: no async function runs inline
_BYTECODE_KNOWN = {"YIELD_VALUE", "GET_AWAITABLE"} <= set(dis.opmap)
_CACHE_MAX = 1024


def _can_suspend(code: CodeType) -> bool:
    return any(ins.opname in _SUSPENDING for ins in dis.get_instructions(code))


class InlineKinds:
    """``kind(fn)``: :data:`SYNC`, :data:`ASYNC` (an ``async def`` that cannot
    suspend) or :data:`NOT_INLINE`; cached per function and its code object (a
    function whose ``__code__`` is swapped is looked at again)."""

    def __init__(self, *, allow_async: bool = True, allow_sync: bool = True):
        self.allow_async = allow_async and _BYTECODE_KNOWN
        self.allow_sync = allow_sync
        self._seen: dict[Any, tuple[Any, int]] = {}

    def kind(self, fn: Callable[..., Any]) -> int:
        code = getattr(fn, "__code__", None)
        seen = self._seen.get(fn)
        if seen is not None and seen[0] is code:
            return seen[1]
        kind = self._classify(fn, code)
        if len(self._seen) >= _CACHE_MAX:
            self._seen.clear()
        self._seen[fn] = (code, kind)
        return kind

    def _classify(self, fn: Any, code: CodeType | None) -> int:
        if inspect.isbuiltin(fn):
            return SYNC
        if not inspect.isfunction(fn) or code is None:
            return NOT_INLINE  # a partial, a bound method, a callable object: general path
        if code.co_flags & inspect.CO_ASYNC_GENERATOR:
            return NOT_INLINE
        if code.co_flags & inspect.CO_COROUTINE:
            return ASYNC if self.allow_async and not _can_suspend(code) else NOT_INLINE
        if inspect.iscoroutinefunction(fn):  # a sync def marked as a coroutine function
            return NOT_INLINE
        # devx's own sync endpoints (the TTY lock's release, the registry's) never
        # pause: inline even where the user's are not (debug mode)
        return SYNC if self.allow_sync or _is_devx(fn) else NOT_INLINE


def _is_devx(fn: Any) -> bool:
    module = getattr(fn, "__module__", None) or ""
    return module.startswith("devx.")


def run_to_end(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that cannot suspend (its code has no suspension point): its
    return value, or its exception raised. In a copy of the current context, as a
    task of its own would have run it: what it sets stays its own."""
    try:
        contextvars.copy_context().run(coro.send, None)
    except StopIteration as done:
        return done.value
    coro.close()  # cannot happen for code without a suspension point
    name = getattr(coro, "__qualname__", repr(coro))
    raise RuntimeError(f"{name} suspended although it has no await in it")


def _checkpoint_trap() -> Any:
    """What ``trio.lowlevel.cancel_shielded_checkpoint()`` gives trio at its yield
    (the trap that reschedules its task for the loop's next pass), taken from the
    function itself; None when it yields nothing (then no trap is taken for it)."""
    import trio

    coro = trio.lowlevel.cancel_shielded_checkpoint()
    try:
        return coro.send(None)
    except Exception:
        return None
    finally:
        coro.close()


_CHECKPOINT: Any = False  # (looked up at the first use: trio may not be imported yet)


def _waits_unseen() -> bool:
    """Whether the running task can wait without its coroutine yielding anything to
    an awaiting frame: a task with a greenback portal, whose sync code's
    ``greenback.await_()`` hands its traps to trio from the task's greenlet shim."""
    greenback = sys.modules.get("greenback")
    return greenback is not None and greenback.has_portal()


@types.coroutine
def past_a_checkpoint(coro: Coroutine[Any, Any, Any], release: Callable[[], None]) -> Any:
    """``await coro`` in a task that holds something another task needs while this
    one waits (a channel's read baton, see ``Actor.listen_for_call``): kept while
    ``coro`` passes through one plain checkpoint (``await trio.sleep(0)``: the task
    is back in the loop's next pass, nothing waited for), ``release()``-d before it
    yields any other trap (a wait: an event, a socket, a sleep, a second checkpoint,
    a cancel delivered). Still held when ``coro`` ends (returns or raises) without
    that: the caller's to give back. ``coro`` runs in this task as under ``await``:
    its traps are this task's, what trio sends back is what it gets. A task that
    may wait where this cannot see it (a greenback portal: ``greenback.await_`` in
    sync code, its portal had before the call or got at that checkpoint) gives it
    back before ``coro`` runs on."""
    global _CHECKPOINT
    __tracebackhide__ = True  # debuggers (pdbp) show the user's frames only
    if _CHECKPOINT is False:
        _CHECKPOINT = _checkpoint_trap()
    send, held, passed = coro.send, True, False
    if _waits_unseen():
        held = False
        release()
    value: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            trap = send(value) if thrown is None else coro.throw(thrown)
        except StopIteration as done:
            return done.value
        if held and (passed or trap is not _CHECKPOINT or _CHECKPOINT is None):
            held = False
            release()
        passed = True
        try:
            value, thrown = (yield trap), None
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # (trio sends outcomes; only another driver throws)
            value, thrown = None, exc
        if held and _waits_unseen():  # (greenback.ensure_portal() was that checkpoint)
            held = False
            release()
