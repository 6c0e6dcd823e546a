"""``devx.trionics.maybe_open_context``: one async context manager shared by the tasks
of an actor (the peer project's task-cached resource), exercised in child actors
(``cache_fns``) and in a root sharing one child's stream among its tasks."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import cache_fns
import devx
from _pty import Repl, banner
from conftest import scaled
from devx.trionics import maybe_open_context

pytestmark = pytest.mark.timeout(90)


def _in_child(fn: Any, **kwargs: Any) -> Any:
    """Run ``fn(**kwargs)`` in a child actor; its return value."""
    return trio.run(_in_child_main, fn, kwargs)


async def _in_child_main(fn: Any, kwargs: dict[str, Any]) -> Any:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("cache", enable_modules=["cache_fns"])
        with trio.fail_after(scaled(20)):
            return await portal.run(fn, **kwargs)


@pytest.mark.parametrize("key_on", ["kwargs", "key", "key_function"])
def test_one_resource_for_every_task_of_an_actor(key_on):
    """The first task opens it (a miss), the others share its value (hits); it is
    entered once and exited once, when the last user leaves, and that user returns
    only after the exit (the ones before it return at once)."""
    out = _in_child(cache_fns.shared_by_tasks, n=5, key_on=key_on)
    seen = out["seen"]
    assert seen["task0"][0] is False
    assert all(seen[f"task{i}"][0] is True for i in range(1, 5)), seen
    assert len({value for _, value in seen.values()}) == 1, seen
    name = "res" if key_on == "kwargs" else "res-of-0"
    assert out["log"] == [f"enter {name} #1", f"exit {name} #1"]
    assert [line.split(", ")[1] for line in out["leaving"]] == ["log=1"] * 4 + ["log=2"]


def test_a_first_opener_cancelled_while_it_opens_hands_the_key_to_the_next():
    """The first task is cancelled while the resource enters: nothing is left behind
    (the entry was cancelled too), the task queued behind it opens the resource
    itself (a miss), a third shares that one, and the key is free afterwards."""
    out = _in_child(cache_fns.first_opener_cancelled)
    res = out["results"]
    assert res["first"] == "cancelled"
    assert res["second"][0] is False and res["third"] == [True, res["second"][1]]
    assert res["after"] is False
    assert out["attempts"][:4] == ["entering", "cancelled while entering", "entering", "entered"]
    assert out["attempts"].count("exited") == 2


@pytest.mark.parametrize("fail", [False, True], ids=["exit-ok", "exit-fails"])
@pytest.mark.parametrize("cancel_last", [False, True], ids=["last-leaves", "last-cancelled"])
def test_the_last_user_waits_for_the_exit_and_gets_its_error(fail, cancel_last):
    out = _in_child(
        cache_fns.last_user_gets_the_exit_and_its_error, fail=fail, cancel_last=cancel_last
    )
    events = out["events"]
    assert events[:4] == [
        "first in: hit=False gen=1",
        "last in: hit=True gen=1",
        "first out: exit done=False",  # not the last: it does not wait
        "exit allowed",
    ], events
    if fail:
        assert "last raised resource exit failed (exit done=True)" in events, events
        assert not any(e.startswith("last out") for e in events), events
    else:
        assert "last out: exit done=True" in events, events
    # an entrant during the exit waited for it and got a fresh resource
    assert "late in: hit=False gen=2 exit done=True" in events, events


def test_keys_of_one_function_live_and_die_apart():
    out = _in_child(cache_fns.keys_live_apart)
    assert out == [
        "a hit=False",
        "b hit=False",
        "b again hit=False same=False",  # b was closed, not kept alive by a
        "a again hit=True same=True",
        "enter a #1",
        "enter b #2",
        "exit b #2",
        "enter b #3",
        "exit b #3",
        "exit a #1",
    ]


def test_each_actor_has_its_own_cache():
    async def main() -> list[list[Any]]:
        async with devx.open_nursery() as an:
            portals = [
                await an.start_actor(f"c{i}", enable_modules=["cache_fns"]) for i in range(2)
            ]
            with trio.fail_after(scaled(20)):
                return [await p.run(cache_fns.my_resource) for p in portals]

    out = trio.run(main)
    assert [hit for hit, _, _ in out] == [False, False]
    assert [name for _, _, name in out] == ["c0", "c1"]
    assert out[0][1] != out[1][1]  # opened in each process


@asynccontextmanager
async def _open_feed(count: int) -> AsyncIterator[tuple[int, devx.MsgStream]]:
    """The resource the peer project's programs share: a child actor and a stream
    from it."""
    async with devx.open_nursery() as an:
        portal = await an.start_actor("feed", enable_modules=["cache_fns"])
        async with (
            portal.open_context(cache_fns.numbers, count=count) as (ctx, pid),
            ctx.open_stream() as stream,
        ):
            yield pid, stream
        await portal.cancel_actor()


def test_tasks_of_a_root_share_one_child_stream():
    """Four tasks of the root ask for the same feed: one child actor is started, its
    one stream reaches every task (each subscribes), and it is stopped when the last
    task leaves."""

    async def main() -> tuple[dict[str, Any], set[int]]:
        got: dict[str, Any] = {}
        subscribed: list[str] = []
        all_subscribed = trio.Event()
        pids: set[int] = set()

        async def task(name: str) -> None:
            async with maybe_open_context(_open_feed, kwargs={"count": 20}) as (hit, (pid, stream)):
                pids.add(pid)
                async with stream.subscribe() as sub:
                    subscribed.append(name)
                    if len(subscribed) == 4:
                        all_subscribed.set()
                    await all_subscribed.wait()
                    if not hit:
                        await stream.send("go")
                    got[name] = (hit, [i async for i in sub])

        async with devx.open_root_actor():
            with trio.fail_after(scaled(30)):
                async with trio.open_nursery() as tn:
                    for i in range(4):
                        tn.start_soon(task, f"t{i}")
                        await trio.testing.wait_all_tasks_blocked()
                assert not devx.current_actor().children  # the feed actor is gone
        return got, pids

    got, pids = trio.run(main)
    assert len(pids) == 1  # one child for all four
    assert sorted(hit for hit, _ in got.values()) == [False, True, True, True]
    assert all(items == list(range(20)) for _, items in got.values()), got


def test_without_a_runtime_it_needs_a_nursery_and_keys_must_hash():
    async def main() -> list[object]:
        out: list[object] = []
        with pytest.raises(devx.NoRuntime, match="pass tn="):
            async with maybe_open_context(cache_fns.counted, kwargs={"name": "x"}):
                pass
        async with trio.open_nursery() as tn:
            async with maybe_open_context(cache_fns.counted, kwargs={"name": "x"}, tn=tn) as (
                hit,
                _,
            ):
                out.append(hit)
                async with maybe_open_context(cache_fns.counted, kwargs={"name": "x"}, tn=tn) as (
                    hit2,
                    _,
                ):
                    out.append(hit2)
        with pytest.raises(TypeError, match=r"not hashable.*pass key="):
            async with maybe_open_context(cache_fns.counted, kwargs={"name": ["a", "list"]}):
                pass
        return out

    assert trio.run(main) == [False, True]


CACHED_DEBUG = """
    import atexit
    import sys
    import termios
    from contextlib import asynccontextmanager

    import trio
    import devx
    from devx.trionics import maybe_open_context


    @asynccontextmanager
    async def resource():
        x = 41
        await devx.pause()
        x += 1
        yield x
        closing = "closing"
        breakpoint()


    async def share():
        seen = []
        both_in = trio.Event()

        async def user(i):
            async with maybe_open_context(resource) as (hit, x):
                seen.append([hit, x])
                if len(seen) == 2:
                    both_in.set()
                await both_in.wait()

        async with trio.open_nursery() as tn:
            tn.start_soon(user, 0)
            tn.start_soon(user, 1)
        return sorted(seen)


    async def main():
        async with devx.open_nursery(debug_mode=True) as an:
            portal = await an.run_in_actor(share, name="cache")
            print("shared", await portal.result(), flush=True)


    def terminal_state():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


    if __name__ == "__main__":
        atexit.register(terminal_state)
        trio.run(main)
"""


def test_the_debugger_in_a_cached_resource(tmp_path):
    """A resource's entry and exit run in the actor's service task, not in its users':
    a pause there and a ``breakpoint()`` in its exit open REPLs as anywhere (``p``,
    ``n`` over the pause, ``w``, ``c``), the tasks still share it, and the terminal is
    sane at the end."""
    script = tmp_path / "cached_debug.py"
    script.write_text(textwrap.dedent(CACHED_DEBUG))
    r = Repl(script)
    try:
        r.expect(banner("PAUSE", "cache", "root/cache"))
        assert "await devx.pause()" in r.prompt()
        assert r.cmd("p x").strip().endswith("41")
        assert "x += 1" in r.cmd("n")
        assert "yield x" in r.cmd("n")
        assert r.cmd("p x").strip().endswith("42")
        r.child.sendline("c")
        r.expect(banner("SYNC_PAUSE", "cache", "root/cache"))
        assert "breakpoint()" in r.prompt()
        assert "'closing'" in r.cmd("p closing")
        assert "resource()" in r.cmd("w")
        r.child.sendline("c")
        r.expect_exact("shared [[False, 42], [True, 42]]")
        r.expect_exact("terminal: echo=True icanon=True")
        assert r.finish() == 0
    finally:
        r.close()
