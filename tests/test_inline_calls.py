"""Inline calls: an ``async def`` without any suspension point runs in the channel's
reader task (as a sync function does); one that awaits gets a task of its own. Both
kinds must mean the same to a caller: results, errors boxed as RemoteActorError,
cancellation, a context of their own. (Crash REPLs of an inline async call: the
``divide`` of examples/debugging/child_crash.py has no await, test_debugger drives
it; pauses on a PTY: tests/test_repl_inline.py.)"""

from __future__ import annotations

import pytest
import trio

import devx
import inline_fns as fns
from conftest import await_until, scaled
from devx.runtime import inline, workers
from devx.runtime.inline import ASYNC, NOT_INLINE, SYNC, InlineKinds

# on a Python whose bytecode devx cannot read for suspension points, nothing async runs
# inline (every async call gets its task): the tests of inline runs do not apply there
needs_inline = pytest.mark.skipif(
    not inline._BYTECODE_KNOWN,
    reason="this Python's bytecode has no YIELD_VALUE/GET_AWAITABLE: no async call runs inline",
)

pytestmark = pytest.mark.timeout(60)
ENABLE = ["inline_fns"]


def run_with_child(body, **nursery_kwargs):
    async def main():
        async with devx.open_nursery(**nursery_kwargs) as an:
            portal = await an.start_actor("worker", enable_modules=ENABLE)
            try:
                return await body(portal)
            finally:
                await portal.cancel_actor()

    return trio.run(main)


async def wait_state(portal, key, value):
    """Poll the child's STATE (through real calls) until ``key`` is ``value``."""

    async def reached() -> bool:
        return (await portal.run(fns.state)).get(key) == value

    await await_until(reached, scaled(5), f"the child's {key} to be {value}")


@needs_inline
def test_which_functions_run_inline():
    kinds = InlineKinds()
    assert kinds.kind(fns.task_no_await) == ASYNC
    assert kinds.kind(fns.task_awaiting) == NOT_INLINE
    assert kinds.kind(fns.state) == SYNC
    assert kinds.kind(len) == SYNC

    async def agen():
        yield 1

    async def with_async_for(it):
        async for _ in it:
            pass

    async def with_async_with(cm):
        async with cm:
            pass

    async def awaits_in_a_comprehension(xs):
        return [await x for x in xs]

    async def defines_an_awaiting_function():
        async def inner():
            await trio.sleep(0)

        return inner

    for fn in (agen, with_async_for, with_async_with, awaits_in_a_comprehension):
        assert kinds.kind(fn) == NOT_INLINE, fn
    assert kinds.kind(defines_an_awaiting_function) == ASYNC  # its own code never awaits
    assert InlineKinds(allow_async=False).kind(fns.task_no_await) == NOT_INLINE


def test_debug_mode_runs_no_sync_function_of_the_users_inline_but_devx_own():
    """Debug mode (``allow_sync=False``): a user's sync function gets a task of its own
    (a breakpoint() in it needs one), devx's own endpoints (the TTY lock's release,
    every child REPL's) still run in the reader, no task hop on the hand-off."""
    from devx.debug import lock

    kinds = InlineKinds(allow_async=False, allow_sync=False)
    assert kinds.kind(fns.state) == NOT_INLINE
    assert kinds.kind(lock.release_hold) == SYNC
    assert InlineKinds().kind(lock.release_hold) == SYNC


@needs_inline
def test_a_swapped_code_object_is_looked_at_again():
    kinds = InlineKinds()

    async def f():
        return 1

    assert kinds.kind(f) == ASYNC
    f.__code__ = fns.task_awaiting.__code__
    assert kinds.kind(f) == NOT_INLINE


@needs_inline
def test_a_function_recoded_or_rebound_in_its_module_is_looked_up_again():
    """The callee keeps what a call's name resolved to and how it runs (inline or in
    a task): a function whose code was swapped since, or rebound in its module, is
    what the next call runs, run as its kind asks."""

    async def body(portal):
        seen = [await portal.run_from_ns("inline_fns", "swappable") for _ in range(2)]
        await portal.run(fns.swap, how="code")
        seen.append(await portal.run_from_ns("inline_fns", "swappable"))
        await portal.run(fns.swap, how="rebind")
        seen.append(await portal.run_from_ns("inline_fns", "swappable"))
        return seen

    first, again, recoded, rebound = run_with_child(body)
    assert first == again == ["first", "inline_fns.swappable"]  # inline, the reader renamed
    assert recoded == ["recoded", "inline_fns.swappable"]  # a task of its own now
    assert rebound[0] == "rebound" and rebound[1].endswith(".serve_channel")  # inline, sync


@needs_inline
def test_results_and_where_each_kind_runs():
    """Inline calls run in the channel's reader task (the same task every time),
    under the call's name while they run, as a task of their own would be; sync
    ones (as before) under the reader's; awaiting ones in a task of their own (not
    the reader), which parks after and serves the next such call."""

    async def body(portal):
        return (
            [await portal.run(fns.task_no_await) for _ in range(2)],
            await portal.run(fns.sync_task),
            [await portal.run(fns.task_awaiting) for _ in range(2)],
            await portal.run(fns.add_no_await, a=1, b=2),
            await portal.run(fns.sync_task),
        )

    inline, sync, awaiting, total, sync_again = run_with_child(body)
    assert inline[1] == ["inline_fns.task_no_await", True]
    assert sync[0].endswith(".serve_channel") and sync[1]  # the reader, its name restored
    assert awaiting[0] == ["inline_fns.task_awaiting", False]  # not the reader
    assert awaiting[1] == ["inline_fns.task_awaiting", True]  # the parked worker again
    assert total == 3
    assert sync_again[0].endswith(".serve_channel") and not sync_again[1]


def test_awaiting_calls_served_by_a_parked_worker_each_have_a_context_of_its_own():
    """A parked worker serves the next call in a fresh copy of the reader's context
    (as a new task would get), never in the context of the call before."""

    async def body(portal):
        return [await portal.run(fns.set_var_awaiting, value=str(i)) for i in range(3)]

    assert run_with_child(body) == [["unset", False], ["unset", True], ["unset", True]]


def test_more_awaiting_calls_at_once_than_workers_park():
    """Calls in flight at once each get a task (parked workers first, then new ones);
    once they are done, some park and serve the next ones; a cancelled one ends only
    itself; the actor exits with workers parked (through its cancel here, through
    closing the pool when its calls' nursery ends without one: every root that served
    a call from its child, as test_a_root_that_served_awaiting_calls_exits does)."""
    n = 3 * workers.MAX_IDLE

    async def body(portal):
        async def one(i: int, out: list[int]) -> None:
            out.append(await portal.run(fns.add_awaiting, a=i, b=1))

        for _ in range(2):
            out: list[int] = []
            async with trio.open_nursery() as tn:
                for i in range(n):
                    tn.start_soon(one, i, out)
            assert sorted(out) == list(range(1, n + 1))
        async with trio.open_nursery() as tn:
            tn.start_soon(portal.run, fns.sleep_awaiting)
            await wait_state(portal, "sleep", "started")
            tn.cancel_scope.cancel()
        await wait_state(portal, "sleep", "cancelled")
        return [await portal.run(fns.add_awaiting, a=i, b=i) for i in range(3)]

    assert run_with_child(body) == [0, 2, 4]


def test_a_root_that_served_awaiting_calls_exits():
    """The root's own calls' nursery ends without a cancel when its body is done: its
    parked workers (here serving a child's calls to the root) must not keep it open."""

    async def main():
        with trio.fail_after(scaled(30)):  # a hang would be the failure
            async with devx.open_nursery(enable_modules=ENABLE) as an:
                portal = await an.run_in_actor(fns.call_the_root_awaiting, name="caller", n=3)
                return await portal.result()

    assert (
        trio.run(main)
        == [["inline_fns.task_awaiting", False]] + [["inline_fns.task_awaiting", True]] * 2
    )


def test_an_inline_call_has_a_context_of_its_own():
    async def body(portal):
        return [await portal.run(fns.set_var_no_await, value=str(i)) for i in range(3)]

    assert run_with_child(body) == ["unset"] * 3


@pytest.mark.parametrize("fn", [fns.raise_no_await, fns.raise_awaiting])
def test_errors_are_boxed_alike(fn):
    async def body(portal):
        with pytest.raises(devx.RemoteActorError) as err:
            await portal.run(fn, msg="nope")
        assert await portal.run(fns.add_no_await, a=2, b=2) == 4  # still serving
        return err.value

    err = run_with_child(body)
    assert err.boxed_type is ValueError
    assert "nope" in str(err)
    assert fn.__name__ in err.tb_str  # the user's frame is in the remote traceback


def test_system_exit_from_an_inline_call_is_boxed_not_fatal():
    async def body(portal):
        with pytest.raises(devx.RemoteActorError) as err:
            await portal.run(fns.exit_no_await)
        assert await portal.run(fns.add_no_await, a=1, b=1) == 2
        return err.value

    assert run_with_child(body).boxed_type is SystemExit


def test_a_context_function_without_await_still_needs_open_context():
    async def body(portal):
        with pytest.raises(devx.RemoteActorError) as err:
            await portal.run(fns.context_no_await)
        return str(err.value)

    assert "open it with portal.open_context()" in run_with_child(body)


def test_cancelling_an_awaiting_call_cancels_its_task():
    async def body(portal):
        async with trio.open_nursery() as n:
            n.start_soon(portal.run, fns.sleep_awaiting)
            await wait_state(portal, "sleep", "started")
            n.cancel_scope.cancel()
        await wait_state(portal, "sleep", "cancelled")
        return await portal.run(fns.add_no_await, a=1, b=2)

    assert run_with_child(body) == 3


@needs_inline
def test_cancelling_an_inline_call_returns_at_once_and_it_runs_to_its_end(tmp_path):
    """An inline call cannot be interrupted (nothing in it waits): the caller that
    gives up gets Cancelled at once, the call finishes, its late reply and the
    CancelCall that follows it are dropped quietly, and the actor serves on."""
    started, go = tmp_path / "started", tmp_path / "go"

    async def body(portal):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as n:

                async def cancel_once_started() -> None:
                    await await_until(started.exists, scaled(5), "the call to start")
                    scope.cancel()

                n.start_soon(cancel_once_started)
                await portal.run(fns.block_no_await, started=str(started), go=str(go))
        assert scope.cancelled_caught
        go.touch()
        await wait_state(portal, "block", "finished")
        return await portal.run(fns.add_no_await, a=1, b=2)

    assert run_with_child(body) == 3


@pytest.mark.skipif(inline._BYTECODE_KNOWN, reason="async calls run inline on this Python")
def test_without_readable_bytecode_async_calls_keep_their_own_task():
    kinds = InlineKinds()
    assert kinds.kind(fns.task_no_await) == NOT_INLINE
    assert kinds.kind(fns.state) == SYNC

    async def body(portal):
        return await portal.run(fns.task_no_await)

    assert run_with_child(body) == ["inline_fns.task_no_await", False]


@pytest.mark.parametrize("greenback_flag", [False, True])
def test_in_debug_mode_async_calls_keep_their_own_task(greenback_flag):
    """pause_from_sync() in an async call needs the call's own task (its greenback
    portal): in debug mode (greenback implied) nothing async runs inline."""

    async def body(portal):
        await portal.run(fns.task_no_await)
        return await portal.run(fns.task_no_await)

    first = run_with_child(body, debug_mode=True, maybe_enable_greenback=greenback_flag)
    assert first == ["inline_fns.task_no_await", False]


def test_what_a_task_call_returns_decides_how_it_ends():
    """A call served in a task awaits a coroutine or any other awaitable its
    function returns; an async generator function (plain or wrapped) is refused
    without any of its code run, as open_stream_from() is the way to run it."""

    async def body(portal):
        refused = []
        for func in ("agen_sets_state", "agen_by_partial"):
            with pytest.raises(devx.RemoteActorError) as err:
                await portal.run_from_ns("inline_fns", func)
            refused.append(str(err.value))
        return (
            await portal.run_from_ns("inline_fns", "coroutine_by_partial", b=2),
            await portal.run_from_ns("inline_fns", "awaitable_by_partial", value=7),
            refused,
            await portal.run_from_ns("inline_fns", "coroutine_by_def", b=3),
            await portal.run_from_ns("inline_fns", "_later", value=5),
            await portal.run(fns.state),
        )

    total, later, refused, by_def, later_by_def, state = run_with_child(body)
    assert (total, later, by_def, later_by_def) == (3, 7, 4, 5)
    assert len(refused) == 2
    for text in refused:
        assert "is an async generator: use open_stream_from()" in text
    assert "agen" not in state


def test_a_late_cancel_of_a_finished_call_reaches_no_later_call():
    """A parked worker's cancel scope is the scope of each plain call it serves, and
    only while that call runs: a CancelCall for a call that already answered (a
    caller's cancel that comes late) finds nothing to cancel, and the next call,
    served by the same parked worker, runs to its end."""

    async def body(portal):
        first = await portal.run(fns.task_awaiting)
        finished = portal.channel.calls.peek() - 1  # the cid the first call had
        await portal._cancel_call(finished)  # sent ahead of the next call, on the same channel
        return first, await portal.run(fns.task_awaiting), await portal.run(fns.task_awaiting)

    first, second, third = run_with_child(body)
    assert first == ["inline_fns.task_awaiting", False]
    assert second == third == ["inline_fns.task_awaiting", True]  # the same parked worker
