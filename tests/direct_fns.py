"""Functions the direct-read tests (tests/test_direct_reads.py) run in child actors, and
one the root serves to them (an importable module)."""

from __future__ import annotations

import contextvars
import os
import time
from pathlib import Path
from typing import Any

import trio

import devx


def noop() -> None:
    return None


def echo(data: bytes) -> bytes:
    return data


def fail(message: str) -> None:
    raise ValueError(message)


async def slow_add(a: int, b: int, delay: float) -> int:
    await trio.sleep(delay)
    return a + b


async def sleep_forever(marker: str) -> None:
    Path(marker).touch()
    try:
        await trio.sleep_forever()
    finally:
        Path(marker + ".cancelled").touch()


async def sleep_forever_with(data: bytes, marker: str) -> None:
    """:func:`sleep_forever` with a (big) argument: its length is the marker's text."""
    Path(marker).write_text(str(len(data)))
    try:
        await trio.sleep_forever()
    finally:
        Path(marker + ".cancelled").touch()


async def sleep_forever_counting(data: bytes, byte: bytes, marker: str) -> None:
    """:func:`sleep_forever_with`, its marker saying the length and how many of ``byte``."""
    Path(marker).write_text(f"{len(data)} {data.count(byte)}")
    try:
        await trio.sleep_forever()
    finally:
        Path(marker + ".cancelled").touch()


def die(code: int) -> None:
    os._exit(code)


async def ask_root(x: int) -> int:
    """Call the root back (over the channel the root is waiting on) while it waits."""
    portal = await devx.current_actor().root_portal()
    return await portal.run(root_double, x=x) + 1


def root_double(x: int) -> int:  # served by the root
    return 2 * x


async def count(n: int):
    for i in range(n):
        yield i


@devx.context
async def ctx_echo(ctx: devx.Context, x: int) -> int:
    await ctx.started(x)
    return x + 1


@devx.context
async def ctx_fail_after_started(ctx: devx.Context, message: str) -> None:
    await ctx.started()
    raise ValueError(message)


@devx.context
async def ctx_stream(ctx: devx.Context, n: int) -> int:
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)
    return n


SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("SEEN", default="unset")


async def task_call(value: str) -> tuple[str, str]:
    """A call served in a task (it awaits): its name, and the variable as it found it
    before setting it (a fresh copy of the reader's context each call: 'unset')."""
    await trio.lowlevel.checkpoint()
    before = SEEN.get()
    SEEN.set(value)
    return trio.lowlevel.current_task().name, before


def reader_task_name() -> str:
    """A sync call: served inline by the channel's reader."""
    return trio.lowlevel.current_task().name


def listened() -> int:
    return devx.current_actor()._workers.listened


async def _file(path: str) -> None:
    while not os.path.exists(path):
        await trio.sleep(0.005)


async def big_after(go: str, marker: str, n: int) -> bytes:
    """A big reply that starts going out once ``go`` exists (its sender then holds the
    channel while the peer reads none of it)."""
    await _file(go)
    Path(marker).touch()
    return b"x" * n


async def small_after(after: str, marker: str) -> str:
    """A small reply that queues behind the frame of :func:`big_after`."""
    await _file(after)
    await trio.lowlevel.checkpoint()
    Path(marker).touch()
    return "small"


def block_until(path: str, marker: str) -> None:
    """Served inline: blocks the child's loop (it reads nothing) until ``path`` exists."""
    Path(marker).touch()
    while not os.path.exists(path):
        time.sleep(0.005)


def _reads_its_channel() -> str:
    """'kept': this call's task read it off its channel and still reads that channel
    (its worker kept the read baton, see Actor.listen_for_call)."""
    chan = devx.current_actor().parent_chan
    return "kept" if chan is not None and chan.holds_baton() else "handed"


_SERVED: list[trio.lowlevel.Task] = []  # the worker that ran the last served_by()


async def served_by() -> None:
    """An awaiting call whose worker :func:`announce_where_a_worker_went` follows."""
    await trio.sleep(0)
    _SERVED[:] = [trio.lowlevel.current_task()]


async def served_by_a_task_that_ended() -> None:
    """:func:`served_by`, as if its worker had ended once the call did (as one past
    the parked workers' bound does): the watcher's answer is 'parked'."""

    async def record() -> None:
        _SERVED[:] = [trio.lowlevel.current_task()]

    async with trio.open_nursery() as n:
        n.start_soon(record)


async def announce_where_a_worker_went(path: str) -> None:
    """Writes to ``path`` (when it is not there) where the worker that ran the last
    :func:`served_by` went once that call ended: 'kept', it waits for the next call on
    the parent's channel holding its read baton (the next call is its to read);
    'parked', it parked (or ended) instead, as when the reader was not yet back at its
    idle point (trio's run order). Looked at every millisecond: a test removes the
    file, calls, then waits for the answer (a state the loop is in, not a timing
    window). It touches ``path + '.up'`` first: a test waits for that before its first
    call, else this call could reach the child after that call's worker went to wait
    for the next one, and be read and run by it (it never went anywhere then)."""
    actor = devx.current_actor()
    workers = actor._workers
    Path(path + ".up").touch()
    while True:
        if _SERVED and not os.path.exists(path):
            task, chan = _SERVED[0], actor.parent_chan
            where = None
            if chan is not None and chan._baton is task and task in workers._listening:
                where = "kept"
            elif task.coro.cr_frame is None or any(t is task for t, _ in workers._idle):
                where = "parked"
            if where is not None:
                _SERVED.clear()
                Path(path + ".new").write_text(where)
                os.replace(path + ".new", path)
        await trio.sleep(0.001)


async def checkpoints_then_forever(n: int, marker: str) -> None:
    """``n`` plain checkpoints (the first passed with its worker still the channel's
    reader), then a wait for ever."""
    kept = _reads_its_channel()
    for _ in range(n):
        await trio.sleep(0)
    Path(marker).write_text(kept)
    try:
        await trio.sleep_forever()
    finally:
        Path(marker + ".cancelled").touch()


async def only_checkpoints(marker: str) -> None:
    """Plain checkpoints until cancelled (an async loop that never waits)."""
    Path(marker).write_text(_reads_its_channel())
    try:
        while True:
            await trio.sleep(0)
    finally:
        Path(marker + ".cancelled").touch()


async def checkpoint_then_fail(message: str) -> None:
    await trio.sleep(0)
    raise ValueError(message)


async def checkpoint_then_ask_root(x: int) -> int:
    """A checkpoint, then a call back to the root over the channel this call came on."""
    await trio.sleep(0)
    portal = await devx.current_actor().root_portal()
    return await portal.run(root_double, x=x) + 1


async def ask_root_then_checkpoint(x: int) -> int:
    """A call back to the root first (before any checkpoint), then a checkpoint."""
    portal = await devx.current_actor().root_portal()
    got = await portal.run(root_double, x=x)
    await trio.sleep(0)
    return got + 1


async def greenback_then_forever(marker: str) -> None:
    """A call whose sync code waits through greenback (as a sync library calling async
    code does): its portal (one plain checkpoint), then ``greenback.await_()`` of a
    wait for ever, whose traps go to trio from the task's greenlet, past this frame.
    The marker says which way the call came (:func:`_reads_its_channel`)."""
    import greenback

    way = _reads_its_channel()
    await greenback.ensure_portal()
    Path(marker).write_text(way)
    try:
        _wait_from_sync_code(greenback)
    finally:
        Path(marker + ".cancelled").touch()


def _wait_from_sync_code(greenback: Any) -> None:
    greenback.await_(trio.sleep_forever())


async def stack_dump() -> str:
    """This actor's tasks as its stack dump (SIGUSR1) shows them: the brief (one line
    a task with user code) and the task tree (stackscope's, or trio's own where
    stackscope falls short: Python 3.13)."""
    import threading

    from devx.debug.stack import brief, handler

    root, me = trio.lowlevel.current_root_task(), trio.lowlevel.current_task()
    lines, walked = brief.for_trio("peer", root, me, {threading.get_ident()})
    tree, _count = handler._render_task_tree(walked)
    return lines + tree
