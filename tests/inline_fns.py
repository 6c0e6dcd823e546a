"""Functions the inline-call tests run in child actors (an importable module): each
kind twice, without an await (run inline by the channel's reader) and with one (a
task of its own)."""

from __future__ import annotations

import contextvars
import functools
import os
import time

import trio

import devx

STATE: dict[str, str] = {}
SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN", default="unset")


def state() -> dict[str, str]:
    return dict(STATE)


_LAST_TASK: list[object] = []  # keeps the task alive: an `is` test, not an id


def _same_task_as_last_time() -> bool:
    task = trio.lowlevel.current_task()
    same = bool(_LAST_TASK) and _LAST_TASK[0] is task
    _LAST_TASK[:] = [task]
    return same


def sync_task() -> tuple[str, bool]:
    return trio.lowlevel.current_task().name, _same_task_as_last_time()


async def task_no_await() -> tuple[str, bool]:
    return trio.lowlevel.current_task().name, _same_task_as_last_time()


async def task_awaiting() -> tuple[str, bool]:
    await trio.lowlevel.checkpoint()
    return trio.lowlevel.current_task().name, _same_task_as_last_time()


async def add_no_await(a: int, b: int) -> int:
    return a + b


async def set_var_no_await(value: str) -> str:
    """What the context variable was, then set it: a call's own context (as a task
    of its own would have) sees 'unset' every time."""
    before = SEEN.get()
    SEEN.set(value)
    return before


async def set_var_awaiting(value: str) -> tuple[str, bool]:
    """As set_var_no_await, in a call that awaits (a task of its own)."""
    await trio.lowlevel.checkpoint()
    before = SEEN.get()
    SEEN.set(value)
    return before, _same_task_as_last_time()


async def add_awaiting(a: int, b: int) -> int:
    await trio.lowlevel.checkpoint()
    return a + b


async def call_the_root_awaiting(n: int) -> list[tuple[str, bool]]:
    """Call the root's task_awaiting ``n`` times (the root serves them)."""
    portal = await devx.current_actor().root_portal()
    return [await portal.run(task_awaiting) for _ in range(n)]


async def raise_no_await(msg: str) -> None:
    raise ValueError(msg)


async def raise_awaiting(msg: str) -> None:
    await trio.lowlevel.checkpoint()
    raise ValueError(msg)


async def exit_no_await() -> None:
    raise SystemExit(3)


async def block_no_await(started: str, go: str) -> str:
    """Blocks the actor's loop (no await: nothing can interrupt it) until the file
    ``go`` exists; records its start and its end."""
    STATE["block"] = "started"
    open(started, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    STATE["block"] = "finished"
    return "finished"


async def sleep_awaiting() -> None:
    STATE["sleep"] = "started"
    try:
        await trio.sleep_forever()
    except trio.Cancelled:
        STATE["sleep"] = "cancelled"
        raise


@devx.context
async def context_no_await(ctx: devx.Context) -> int:
    return 1


async def agen_sets_state():
    """An async generator: run() must refuse it without running any of its code."""
    STATE["agen"] = "ran"
    yield 1


class _Later:
    """An awaitable that is not a coroutine (its own ``__await__``)."""

    def __init__(self, value: int):
        self.value = value

    def __await__(self):
        yield from trio.lowlevel.checkpoint().__await__()
        return self.value


def _later(value: int) -> _Later:
    return _Later(value)


def coroutine_by_def(b: int):
    """A plain function that returns a coroutine: served inline, then in a task."""
    return add_awaiting(1, b)


# callables that are not plain functions: served in a task (the general path), which
# awaits what they return when it is awaitable
coroutine_by_partial = functools.partial(add_awaiting, 1)
awaitable_by_partial = functools.partial(_later)
agen_by_partial = functools.partial(agen_sets_state)


async def swappable() -> tuple[str, str]:
    """What ``swap`` rebinds in this module, or whose code it swaps (no await: run
    inline at first)."""
    return "first", trio.lowlevel.current_task().name


async def _recoded() -> tuple[str, str]:
    await trio.lowlevel.checkpoint()
    return "recoded", trio.lowlevel.current_task().name


def _rebound() -> tuple[str, str]:
    return "rebound", trio.lowlevel.current_task().name


def swap(how: str) -> None:
    """``code``: ``swappable`` gets the code of an ``async def`` that awaits (it can
    no longer run inline); ``rebind``: it becomes another function (a sync one)."""
    global swappable
    if how == "code":
        swappable.__code__ = _recoded.__code__
    else:
        swappable = _rebound  # type: ignore[assignment]
