"""The peer runtime's (tractor's) public names that its programs use, as devx provides
them, each through real processes: ``devx.log``, ``is_root_process``, a channel's
``uid``/``laddr``/``raddr``, ``ActorID.reprol``, ``MsgStream.subscribe`` (one stream,
every item to each of several local tasks), ``open_actor_cluster``, typed payloads
(``@devx.context(pld_spec=...)``), ``trionics.collapse_eg`` and asyncio in an actor
(``infect_asyncio=True``, ``devx.to_asyncio``), its REPLs on a real PTY."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing

import compat_fns
import devx
from _pty import Repl, banner
from compat_fns import Point
from conftest import devx_actor_pids, run_script, scaled

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).resolve().parent


# --- devx.log ----------------------------------------------------------------------------

LOG_PROGRAM = """
    import trio
    import devx as tractor

    log = tractor.log.get_logger("app")
    tractor.log.get_console_log("info")   # at module level: root and every child


    async def hello():
        log.info("hello from %s", tractor.current_actor().path)
        log.cancel("a cancel-level line")
        log.debug("a debug line")
        return 1


    async def main():
        log.info("root starts")
        async with tractor.open_nursery({kwargs}) as an:
            log.info("root opened its tree")
            await (await an.run_in_actor(hello, name="kid")).result()
        log.runtime("runtime level: under info")


    if __name__ == "__main__":
        trio.run(main)
"""


def _log_program(tmp_path: Path, kwargs: str = "") -> Path:
    script = tmp_path / "logs.py"
    script.write_text(textwrap.dedent(LOG_PROGRAM.format(kwargs=kwargs)))
    return script


def test_log_console_lines_of_root_and_child_at_the_level_asked_for(tmp_path):
    """``get_console_log("info")`` at module level shows the program's info (and the
    peer's ``cancel`` level) in the root and in the child that loads the module, one
    line each headed by the actor's path; debug and ``runtime`` (15) stay out."""
    out = run_script(_log_program(tmp_path), DEVX_LOG_FORMAT="console")
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    # before the tree opens no actor runs here yet: the line says only the pid
    assert any(
        line.startswith("[devx pid ") and line.endswith("INFO devx.app: root starts")
        for line in lines
    ), out.stderr
    assert any(
        line.startswith("[devx root pid ") and line.endswith("INFO devx.app: root opened its tree")
        for line in lines
    ), out.stderr
    kid = [line for line in lines if line.startswith("[devx root/kid pid ")]
    assert any(line.endswith("INFO devx.app: hello from root/kid") for line in kid), out.stderr
    assert any(line.endswith("CANCEL devx.app: a cancel-level line") for line in kid), out.stderr
    assert "a debug line" not in out.stderr
    assert "runtime level" not in out.stderr


def test_log_json_lines_carry_the_actor_and_an_explicit_loglevel_wins(tmp_path):
    """Without a terminal the same records are JSON lines with the actor's lineage;
    ``open_nursery(loglevel="warning")`` is explicit and wins over the module's
    ``get_console_log("info")`` in the tree it opens."""
    out = run_script(_log_program(tmp_path))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    kid = [r for r in records if r.get("devx.actor.path") == "root/kid"]
    assert {"event": "hello from root/kid", "level": "info", "logger": "devx.app"}.items() <= (
        kid[0].items() if kid else {}.items()
    ), out.stderr

    quiet = run_script(_log_program(tmp_path, 'loglevel="warning"'), DEVX_LOG_FORMAT="console")
    assert quiet.returncode == 0, quiet.stderr
    assert "root starts" in quiet.stderr  # logged before the tree opened
    assert "root opened its tree" not in quiet.stderr
    assert "hello from" not in quiet.stderr and "cancel-level" not in quiet.stderr


# a peer program that never touches tractor.log: only `loglevel=` names the level
LEVEL_PROGRAM = """
    import logging
    import sys

    import trio
    import devx as tractor

    log = logging.getLogger("devx.app")


    async def hello():
        log.info("hello from %s", tractor.current_actor().path)
        log.log(22, "a cancel-level line")


    async def main():
        async with tractor.open_nursery(loglevel=sys.argv[1]) as an:
            log.info("root opened its tree")
            await (await an.run_in_actor(hello, name="kid")).result()


    if __name__ == "__main__":
        trio.run(main)
"""


def test_a_peer_level_given_to_the_tree_is_that_level_in_every_actor(tmp_path):
    """``open_nursery(loglevel="cancel")`` (the peer's 22) shows the child's
    cancel-level line and hides info, with telemetry on or off; ``"pdb"`` (500)
    hides both; an unknown name is refused at the root, naming it."""
    script = tmp_path / "levels.py"
    script.write_text(textwrap.dedent(LEVEL_PROGRAM))
    for telemetry in ("", "off"):
        env = {"DEVX_LOG_FORMAT": "console", "DEVX_TELEMETRY_FILE": telemetry}
        out = run_script(script, "cancel", **env)
        assert out.returncode == 0, out.stderr
        assert "root opened its tree" not in out.stderr and "hello from" not in out.stderr
        assert any(
            line.startswith("[devx root/kid pid ")
            and line.endswith("CANCEL devx.app: a cancel-level line")
            for line in out.stderr.splitlines()
        ), out.stderr
        out = run_script(script, "pdb", **env)
        assert out.returncode == 0, out.stderr
        assert "hello from" not in out.stderr and "cancel-level" not in out.stderr
    out = run_script(script, "loud")
    assert out.returncode == 1
    assert "ValueError: unknown log level 'loud'" in out.stderr
    out = run_script(script, "info", DEVX_LOG_FORMAT="console")
    assert "INFO devx.app: hello from root/kid" in out.stderr  # the stdlib's names as ever


CHILD_LEVEL_PROGRAM = """
    import sys
    import trio
    import devx


    async def hello():
        return "hello"


    async def main():
        async with devx.open_nursery() as an:
            try:
                await an.start_actor("kid", loglevel=sys.argv[1])
            except ValueError as exc:
                print("refused:", exc, "| children:", len(an.children))
            try:
                await an.run_in_actor(hello, name="oneshot", loglevel=sys.argv[1])
            except ValueError as exc:
                print("refused:", exc, "| children:", len(an.children))


    if __name__ == "__main__":
        trio.run(main)
"""


def test_an_unknown_level_given_to_a_child_is_refused_at_the_call(tmp_path):
    """A child's ``loglevel=`` is checked before its spawn: a ValueError naming the
    level and the actor, no child started (it failed its boot on it, an ActorBootError
    naming neither)."""
    script = tmp_path / "child_levels.py"
    script.write_text(textwrap.dedent(CHILD_LEVEL_PROGRAM))
    out = run_script(script, "loud")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout
    for line, name in zip(lines, ("kid", "oneshot"), strict=True):
        assert line.startswith("refused: unknown log level 'loud'"), line
        assert f"(the loglevel= of actor {name!r}) | children: 0" in line, line


def test_devx_log_level_takes_the_peers_names_too():
    for name in ("transport", "runtime", "devx", "cancel", "pdb", "Info", "15"):
        out = run_script("-m", "devx", "settings", "--check", DEVX_LOG_LEVEL=name)
        assert out.returncode == 0, (name, out.stdout + out.stderr)
    out = run_script("-m", "devx", "settings", "--check", DEVX_LOG_LEVEL="loud")
    assert out.returncode != 0 and "DEVX_LOG_LEVEL='loud'" in out.stdout + out.stderr


def test_log_levels_by_name_and_an_unknown_one_is_refused():
    log = devx.log.get_logger("levels")
    assert log.logger.name == "devx.levels"
    assert devx.log.get_logger().logger.name == "devx"
    devx.log.get_console_log("cancel", logger=log)
    assert log.level == "cancel" and log.at_least_level("warning")
    assert not log.at_least_level("info")
    with pytest.raises(ValueError, match=r"unknown log level 'loud'.*CANCEL"):
        devx.log.get_console_log("loud", name="levels")


# --- identities and addresses --------------------------------------------------------------


def test_is_root_process_channel_ids_and_addresses():
    async def main() -> None:
        assert not devx.is_root_process()  # no runtime here yet, as in the peer
        async with devx.open_nursery() as an:
            assert devx.is_root_process()
            portal = await an.start_actor("child", enable_modules=["compat_fns"])
            info = await portal.run(compat_fns.whoami)
            assert info["is_root"] is False
            chan = portal.chan
            assert chan.uid == tuple(info["uid"]) == chan.aid.uid
            assert chan.aid.reprol() == "child"
            assert chan.aid.reprol(sin_uuid=False) == f"child[{chan.aid.uuid[:8]}]"
            # a spawned child's channel is the socketpair made at the spawn: unnamed,
            # the child's pid from the kernel
            raddr = chan.raddr
            assert raddr is not None and raddr.proto_key == "uds"
            assert raddr.sockpath == "" and raddr.maybe_pid == info["pid"]
            assert chan.laddr is not None and chan.laddr.proto_key == "uds"
            # found by name: a connection to the child's own listener, over TCP
            async with devx.find_actor("child") as found:
                assert found.chan.uid == chan.uid
                remote = found.chan.raddr
                assert remote is not None and remote.proto_key == "tcp"
                assert remote.unwrap() == tuple(await found.run(compat_fns.accept_addr))
                assert found.chan.laddr.host == "127.0.0.1"
            await an.cancel()
        assert not devx.is_root_process()
        assert chan.raddr is None  # closed

    trio.run(main)


# --- MsgStream.subscribe ---------------------------------------------------------------------


def test_every_subscriber_and_the_stream_itself_get_every_item():
    """Three subscribed tasks and the stream's own reader each get 0..19 in order and
    then the end; a subscriber's ``send`` reaches the peer."""
    count = 20

    async def main() -> dict[str, list[object]]:
        got: dict[str, list[object]] = {}

        async def consume(
            name: str, stream: devx.MsgStream, *, task_status=trio.TASK_STATUS_IGNORED
        ):
            async with stream.subscribe() as sub:
                task_status.started()
                got[name] = [item async for item in sub]

        async with devx.open_nursery() as an:
            portal = await an.start_actor("ticker", enable_modules=["compat_fns"])
            async with portal.open_context(compat_fns.ticker, count=count) as (ctx, first):
                assert first == count
                async with ctx.open_stream() as stream, trio.open_nursery() as tn:
                    for i in range(3):
                        await tn.start(consume, f"sub{i}", stream)
                    async with stream.subscribe() as talker:
                        await talker.send("hi")  # to the peer, which echoes it
                        assert await talker.receive() == ["echo", "hi"]
                    await stream.send("go")
                    got["stream"] = [item async for item in stream]
                assert await ctx.result() == count
            await an.cancel()
        return got

    got = trio.run(main)
    # the echo arrived after every subscriber was in place: all got it
    for name in ("sub0", "sub1", "sub2"):
        assert got[name] == [["echo", "hi"], *range(count)], name
    assert got["stream"] == [["echo", "hi"], *range(count)]


def test_a_subscriber_that_falls_a_window_behind_gets_lagged_then_the_oldest_kept(
    monkeypatch,
):
    """With a window of 4, a fast subscriber reads 10 items while a slow one reads
    none: the slow one's next receive raises ``Lagged`` saying 6 were dropped, the
    one after returns item 6 (the oldest still kept), and it goes on from there."""
    monkeypatch.setenv("DEVX_STREAM_WINDOW", "4")

    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("demand", enable_modules=["compat_fns"])
            async with portal.open_context(compat_fns.on_demand) as (ctx, _):
                async with ctx.open_stream() as stream:
                    async with stream.subscribe() as fast, stream.subscribe() as slow:
                        for i in range(10):
                            await stream.send("n")
                            assert await fast.receive() == i
                        with pytest.raises(devx.trionics.Lagged, match="6 items were dropped"):
                            await slow.receive()
                        assert [await slow.receive() for _ in range(4)] == [6, 7, 8, 9]
                        await stream.send("n")
                        assert await fast.receive() == 10
                        assert await slow.receive() == 10
                    await ctx.cancel()
            await an.cancel()

    trio.run(main)


def test_a_cancelled_reader_hands_over_to_the_next_subscriber():
    """The subscriber waiting on the stream for everyone is cancelled: another one
    waiting becomes the reader and gets the next item; a closed subscriber says so."""

    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("demand", enable_modules=["compat_fns"])
            async with portal.open_context(compat_fns.on_demand) as (ctx, _):
                async with ctx.open_stream() as stream:
                    async with stream.subscribe() as first, stream.subscribe() as second:
                        got: list[object] = []

                        async def read(sub: devx.trionics.BroadcastReceiver) -> None:
                            got.append(await sub.receive())

                        reader_scope = trio.CancelScope()
                        async with trio.open_nursery() as tn:
                            tn.start_soon(_in_scope, reader_scope, read, first)
                            await trio.testing.wait_all_tasks_blocked()
                            tn.start_soon(read, second)
                            await trio.testing.wait_all_tasks_blocked()
                            reader_scope.cancel()
                            await trio.testing.wait_all_tasks_blocked()
                            await stream.send("n")
                        assert got == [0]
                        assert await first.receive() == 0  # kept for it too
                    with pytest.raises(trio.ClosedResourceError, match="subscriber was closed"):
                        await first.receive()
                    await ctx.cancel()
            await an.cancel()

    trio.run(main)


@pytest.mark.parametrize("how", ["receive", "async for", "cancelled"])
def test_a_subscriber_gets_what_the_streams_own_waiting_read_gets(how):
    """The peer's test_task_broadcasting: the stream's own reader is already waiting
    (``receive()`` or ``async for``) when other tasks subscribe; the items that arrive
    after reach every subscriber too (they missed the first: [1, 2]). ``cancelled``:
    that waiting read is cancelled before anything arrived, a subscriber reads for all."""

    async def main() -> dict[str, list[object]]:
        got: dict[str, list[object]] = {"stream": [], "sub0": [], "sub1": []}

        async def own() -> None:
            if how == "async for":
                async for item in stream:
                    got["stream"].append(item)
                    if len(got["stream"]) == 2:
                        break
            else:
                got["stream"] = [await stream.receive(), await stream.receive()]

        async def subscriber(name: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
            async with stream.subscribe() as sub:
                task_status.started()
                got[name] = [await sub.receive(), await sub.receive()]

        async with devx.open_nursery() as an:
            portal = await an.start_actor("demand", enable_modules=["compat_fns"])
            async with portal.open_context(compat_fns.on_demand) as (ctx, _):
                async with ctx.open_stream() as stream:
                    own_scope = trio.CancelScope()
                    async with trio.open_nursery() as tn:
                        tn.start_soon(_in_scope, own_scope, own)
                        await trio.testing.wait_all_tasks_blocked()  # own waits, unsubscribed
                        await tn.start(subscriber, "sub0")
                        await tn.start(subscriber, "sub1")
                        if how == "cancelled":
                            own_scope.cancel()
                            await trio.testing.wait_all_tasks_blocked()
                        for _ in range(3):  # one more than each reads: none waits forever
                            await stream.send("n")
                    await ctx.cancel()
            await an.cancel()
        return got

    got = trio.run(main)
    assert got["sub0"] == got["sub1"] == [0, 1]
    assert got["stream"] == ([] if how == "cancelled" else [0, 1])


async def _in_scope(scope: trio.CancelScope, fn, *args) -> None:
    with scope:
        await fn(*args)


# --- open_actor_cluster ------------------------------------------------------------------------


def test_actor_cluster_starts_named_workers_and_stops_them_all():
    before = devx_actor_pids()

    async def main() -> list[dict[str, object]]:
        async with devx.open_actor_cluster(modules=["compat_fns"], count=3) as portals:
            assert list(portals) == ["root.worker_0", "root.worker_1", "root.worker_2"]
            infos = [await p.run(compat_fns.whoami) for p in portals.values()]
            assert len(devx_actor_pids() - before) == 3
        return infos

    infos = trio.run(main)
    assert [i["name"] for i in infos] == ["root.worker_0", "root.worker_1", "root.worker_2"]
    assert len({i["pid"] for i in infos}) == 3 and not any(i["is_root"] for i in infos)
    assert not devx_actor_pids() - before


def test_actor_cluster_error_in_the_block_stops_the_workers_and_is_raised():
    before = devx_actor_pids()

    async def main() -> None:
        async with devx.open_actor_cluster(modules=["compat_fns"], names=["a", "b"]) as portals:
            async with trio.open_nursery() as tn:
                for portal in portals.values():
                    tn.start_soon(portal.run, compat_fns.sleep_forever)
                raise KeyError("stop the cluster")

    with pytest.raises(BaseException) as info:
        trio.run(main)
    assert isinstance(info.value, KeyError) or info.group_contains(
        KeyError, match="stop the cluster"
    )
    assert not devx_actor_pids() - before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 2, "names": ["a"]}, "1 names for count=2"),
        ({"names": ["a", "a"]}, "names must differ"),
    ],
)
def test_actor_cluster_refuses_bad_arguments(kwargs, match):
    async def main() -> None:
        async with devx.open_actor_cluster(modules=["compat_fns"], **kwargs):
            pass

    with pytest.raises(ValueError, match=match):
        trio.run(main)


# --- typed payloads -----------------------------------------------------------------------------


def test_typed_context_values_arrive_as_the_spec_and_a_wrong_one_is_refused_where_sent():
    """``started`` of a str is refused in the callee (which goes on and starts with a
    Point); stream items are Points on both sides; a Point with a str field is
    refused in the caller before it is sent, and the context goes on; the return
    value is a Point."""

    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("typed", enable_modules=["compat_fns"])
            async with portal.open_context(
                compat_fns.point_doubler, started_first="not a point"
            ) as (ctx, first):
                assert type(first) is Point and first == Point(0, 0)
                async with ctx.open_stream() as stream:
                    for i in range(3):
                        await stream.send(Point(i, i + 1))
                        doubled = await stream.receive()
                        assert type(doubled) is Point and doubled == Point(2 * i, 2 * i + 2)
                    with pytest.raises(devx.MsgTypeError) as info:
                        await stream.send(Point("x", 1))  # type: ignore[arg-type]
                    message = str(info.value)
                    assert "compat_fns.point_doubler (caller side, in actor 'root')" in message
                    assert "pld_spec Point | None" in message and "nothing was sent" in message
                    await stream.send(Point(5, 5))
                    assert await stream.receive() == Point(10, 10)
                result = await ctx.result()
                assert type(result) is Point and result == Point(1, 0)  # 1: str refused
            await an.cancel()

    trio.run(main)


def test_a_typed_context_returning_another_type_fails_naming_actor_and_spec():
    async def main() -> None:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("typed", enable_modules=["compat_fns"])
            with pytest.raises(devx.RemoteActorError) as info:
                async with portal.open_context(compat_fns.returns_wrong_type) as (ctx, first):
                    assert first is None
                    await ctx.result()
            err = info.value
            assert err.boxed_type is devx.MsgTypeError and err.src_path == "root/typed"
            assert "the return value in context compat_fns.returns_wrong_type" in str(err)
            assert "pld_spec Point | None" in str(err) and "dict" in str(err)
            assert await portal.run(compat_fns.whoami)  # the actor keeps serving
            await an.cancel()

    trio.run(main)


def test_a_pld_spec_msgspec_cannot_check_is_refused_at_decoration():
    with pytest.raises(TypeError, match=r"pld_spec=.*on .*bad.*msgspec"):

        @devx.context(pld_spec=object())
        async def bad(ctx: devx.Context) -> None:
            pass


# --- trionics.collapse_eg ------------------------------------------------------------------------


def test_collapse_eg_raises_a_lone_error_as_itself_and_keeps_a_group_of_several():
    async def one() -> None:
        async with devx.trionics.collapse_eg(), trio.open_nursery() as tn:
            tn.start_soon(_fail, "alone")

    async def two() -> None:
        async with devx.trionics.collapse_eg(), trio.open_nursery() as tn:
            tn.start_soon(_fail, "first")
            tn.start_soon(_fail, "second")

    with pytest.raises(KeyError, match="alone") as info:
        trio.run(one)
    assert any("collapse_eg" in note for note in info.value.__notes__)
    with pytest.raises(BaseExceptionGroup) as group:
        trio.run(two)
    assert len(group.value.exceptions) == 2


async def _fail(what: str) -> None:
    raise KeyError(what)


def _recorded(log: list[str], name: str, *, barrier: list[trio.Event] | None = None, fail=False):
    """An async context manager recording its entry and exit in ``log``; with
    ``barrier`` (one event per manager) it enters only once every manager began
    entering, which sequential entry would never reach."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def mngr():
        if barrier is not None:
            barrier[int(name[-1])].set()
            for ev in barrier:
                await ev.wait()
        if fail:
            raise KeyError(f"{name} failed to enter")
        log.append(f"enter {name}")
        try:
            yield name.upper()
        finally:
            log.append(f"exit {name}")

    return mngr()


def test_gather_contexts_enters_all_at_once_and_exits_them_at_the_end():
    log: list[str] = []

    async def main() -> tuple[str, ...]:
        barrier = [trio.Event() for _ in range(3)]
        with trio.fail_after(scaled(10)):  # entered one after another, this never ends
            async with devx.trionics.gather_contexts(
                [_recorded(log, f"m{i}", barrier=barrier) for i in range(3)]
            ) as values:
                assert sorted(log) == ["enter m0", "enter m1", "enter m2"]
                log.append("body")
        return values

    assert trio.run(main) == ("M0", "M1", "M2")
    assert log.index("body") == 3 and sorted(log[4:]) == ["exit m0", "exit m1", "exit m2"]


def test_gather_contexts_one_failing_to_enter_exits_the_others_and_is_raised():
    log: list[str] = []

    async def main() -> None:
        async with devx.trionics.gather_contexts(
            [_recorded(log, "m0"), _recorded(log, "m1", fail=True), _recorded(log, "m2")]
        ):
            log.append("body")

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert info.group_contains(KeyError, match="m1 failed to enter")
    assert "body" not in log
    assert sorted(e for e in log if e.startswith("exit")) == sorted(
        e.replace("enter", "exit") for e in log if e.startswith("enter")
    )
    with pytest.raises(ValueError, match="no context managers"):
        trio.run(lambda: devx.trionics.gather_contexts([]).__aenter__())


def test_maybe_open_nursery_uses_the_given_one_or_opens_one():
    async def main() -> None:
        async with trio.open_nursery() as outer:
            async with devx.trionics.maybe_open_nursery(outer) as n:
                assert n is outer
        async with devx.trionics.maybe_open_nursery(shield=True) as n:
            assert n is not outer and n.cancel_scope.shield

    trio.run(main)


def test_the_peer_names_are_reachable_as_devx_names():
    """What a program written for the peer reaches as ``tractor.X`` (``import devx as
    tractor``), in a fresh interpreter."""
    code = (
        "import trio\n"
        "import devx as t\n"
        "assert callable(t.log.get_logger) and callable(t.log.get_console_log)\n"
        "assert callable(t.is_root_process) and callable(t.open_actor_cluster)\n"
        "assert callable(t.trionics.collapse_eg)\n"
        "assert issubclass(t.trionics.Lagged, trio.TooSlowError)\n"
        "assert callable(t.MsgStream.subscribe)\n"
    )
    out = run_script("-c", code, PYTHONPATH=os.fspath(HERE))
    assert out.returncode == 0, out.stderr


# --- run_daemon, debug_mode and the peer's other names -------------------------------------


DAEMON = """
    import sys

    import devx

    if __name__ == "__main__":
        port = int(sys.argv[1])
        devx.run_daemon(["compat_fns"], name="daemon", registry_addrs=[("127.0.0.1", port)])
        print("daemon returned", flush=True)
"""


def test_run_daemon_serves_until_a_peer_cancels_it(tmp_path, proc_tree, monkeypatch):
    """A program that is only ``run_daemon([...])``: found through the shared
    registrar, it serves calls as a root, and a peer's ``cancel_actor()`` ends it
    cleanly (exit code 0, ``run_daemon`` returns)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DEVX_TREE_SECRET", "peer-compat-test-secret-0123456789")
    script = tmp_path / "daemon.py"
    script.write_text(textwrap.dedent(DAEMON))

    async def main() -> tuple[dict[str, object], int]:
        reg = ("127.0.0.1", port)
        async with devx.open_root_actor(name="client", registry_addrs=[reg]):
            daemon = proc_tree(script, str(port), PYTHONPATH=os.fspath(HERE))
            with trio.fail_after(scaled(30)):
                async with devx.wait_for_actor("daemon") as portal:
                    info = await portal.run(compat_fns.whoami)
                    await portal.cancel_actor()
                code = await trio.to_thread.run_sync(daemon.wait, scaled(20))
        return info, code

    info, code = trio.run(main)
    assert info["name"] == "daemon" and info["is_root"] is True
    assert code == 0


def test_debug_mode_and_the_peer_aliases():
    async def main() -> None:
        assert not devx.debug_mode()
        async with devx.open_root_actor(debug_mode=True):
            assert devx.debug_mode()
        async with devx.open_nursery() as an:
            assert not devx.debug_mode()
            portal = await an.start_actor("plain", enable_modules=["compat_fns"])
            assert isinstance(portal.chan, devx.Channel)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run_from_ns("os", "getpid")
            assert info.value.boxed_type is devx.ModuleNotExposed
            await an.cancel()

    trio.run(main)
    assert devx.TransportClosed is devx.ChannelClosed


# --- asyncio in an actor (devx.to_asyncio) -----------------------------------------------


def _in_asyncio_child(fn, infect: bool = True) -> object:
    async def main() -> object:
        async with devx.open_nursery() as an:
            portal = await an.run_in_actor(fn, name="aio", infect_asyncio=infect)
            return await portal.result()

    return trio.run(main)


def test_run_task_returns_raises_and_is_cancelled_with_its_trio_caller():
    assert _in_asyncio_child(compat_fns.aio_run_tasks) == [
        42,
        "ValueError: from asyncio",
        "asyncio task cancelled",
    ]


def test_open_channel_from_links_an_asyncio_task_to_a_trio_block():
    assert _in_asyncio_child(compat_fns.aio_channels) == [
        "> ready",
        "> 0",
        "> 1",
        "> 2",
        [],  # the task returned: the trio side's async for ends
        "stopped",
        "x",
        "echo task cancelled",  # the second block ended while its task ran
        "KeyError: 'asyncio side failed'",
        "KeyError in receive: 'asyncio side failed'",  # (was trio.EndOfChannel)
    ]


def test_open_channel_from_gives_the_channel_by_name_as_the_peer_does():
    """The peer passes the channel as ``chan=``: its test_infected_asyncio's
    ``sleep_and_err(sleep_for=0.1, chan=None)`` got the channel as ``sleep_for``
    here (TypeError from asyncio.sleep); and its parameter names work by keyword
    (``open_channel_from(target=f)``, ``run_task(func=f)``), while a function given by
    position still gets its own ``target=``/``func=`` arguments (a TypeError 'multiple
    values for argument' once the peer's names came in)."""
    assert _in_asyncio_child(compat_fns.aio_chan_by_name) == [
        "started after 0.0",
        "done",
        7,
        8,
        42,
        "connected to db:5432",
        "func=mine",
    ]


def test_a_linked_task_channel_fans_out_to_subscribers():
    """The peer's test_basic_interloop_channel_stream: ``chan.subscribe()`` gives one
    more trio task every item the asyncio task sends (AttributeError before), and
    ``open_channel_from(..., suppress_graceful_exits=True)`` is the peer's option (it
    went to the asyncio function: TypeError)."""
    assert _in_asyncio_child(compat_fns.aio_fan_out) == [
        [0, 1, 2, 3, 4],
        [0, 1, 2, 3, 4],
        True,
        ["ready", 0, 1],
    ]


def test_to_asyncio_without_infect_asyncio_says_how_to_get_it():
    message = _in_asyncio_child(compat_fns.aio_outside, infect=False)
    assert "this process runs no asyncio loop" in message and "infect_asyncio=True" in message


def test_a_root_runs_as_asyncio_guest_with_an_infected_child(tmp_path):
    script = tmp_path / "guest_root.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio
            import trio
            import devx
            import compat_fns


            async def root_side() -> str:
                await asyncio.sleep(0)
                return type(asyncio.get_running_loop()).__name__


            async def main():
                loop = await devx.to_asyncio.run_task(root_side)
                async with devx.open_nursery() as an:
                    portal = await an.run_in_actor(
                        compat_fns.aio_run_tasks, name="aio", infect_asyncio=True
                    )
                    print(loop, await portal.result())


            if __name__ == "__main__":
                devx.to_asyncio.run_as_asyncio_guest(main)
            """
        )
    )
    out = run_script(script, PYTHONPATH=os.fspath(HERE))
    assert out.returncode == 0, out.stderr
    assert "EventLoop [42, 'ValueError: from asyncio', 'asyncio task cancelled']" in out.stdout


INFECTED_DEBUG = """
    import asyncio
    import atexit
    import sys
    import termios

    import trio
    import devx


    async def work():
        x = 41
        await devx.pause()
        x += await devx.to_asyncio.run_task(asyncio.sleep, delay=0, result=1)
        return x


    async def crash():
        await devx.to_asyncio.run_task(asyncio.sleep, delay=0)
        raise ValueError("infected crash")


    async def main():
        async with devx.open_nursery(debug_mode=True) as an:
            portal = await an.run_in_actor(work, name="aio", infect_asyncio=True)
            print("result", await portal.result(), flush=True)
            await an.run_in_actor(crash, name="aio2", infect_asyncio=True)


    def terminal_state():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


    if __name__ == "__main__":
        atexit.register(terminal_state)
        trio.run(main)
"""


def test_the_debugger_in_an_asyncio_infected_actor(tmp_path):
    """A pause and a crash in trio tasks of actors that run as asyncio's guest: the
    REPLs work as anywhere (``p``, ``n`` over an asyncio call, ``w``, ``c``), and the
    terminal is sane at the end."""
    script = tmp_path / "infected_debug.py"
    script.write_text(textwrap.dedent(INFECTED_DEBUG))
    r = Repl(script)
    try:
        r.expect(banner("PAUSE", "aio", "root/aio"))
        assert "await devx.pause()" in r.prompt()
        assert r.cmd("p x").strip().endswith("41")
        assert "run_task(asyncio.sleep" in r.cmd("n")
        assert "return x" in r.cmd("n")
        assert r.cmd("p x").strip().endswith("42")
        r.child.sendline("c")
        r.expect_exact("result 42")
        r.expect(banner("CRASH", "aio2", "root/aio2"))
        out = r.prompt()
        assert 'raise ValueError("infected crash")' in out
        assert "crash()" in r.cmd("w")
        r.child.sendline("c")
        r.expect(banner("CRASH", "root", "root"))
        r.prompt()
        r.child.sendline("c")
        r.expect_exact("ValueError: infected crash")
        r.expect_exact("terminal: echo=True icanon=True")
        assert r.finish() != 0
    finally:
        r.close()


# --- tractor.devx ------------------------------------------------------------------------

DEVX_NS_PROGRAM = """
    import trio
    import devx as tractor


    def debug_tools() -> str:
        return tractor.devx.__name__


    async def tree() -> None:
        async with tractor.open_nursery(debug_mode=True) as an:
            portal = await an.start_actor("kid", enable_modules=[__name__])
            print("child:", await portal.run(debug_tools), flush=True)
            await tractor.devx.maybe_wait_for_debugger()
            await an.cancel()


    if __name__ == "__main__":
        with tractor.devx.maybe_open_crash_handler(pdb=False) as box:
            trio.run(tree)
        print("root:", debug_tools(), "error:", box.value, flush=True)
"""


def test_the_peers_debug_namespace_is_devx_debug(tmp_path):
    """The peer's programs reach its debugger toolbox as ``tractor.devx``
    (``tractor.devx.open_crash_handler()``, ``.maybe_wait_for_debugger()`` ...);
    under ``import devx as tractor`` that is ``devx.debug``, in the root and in a
    child (before: ``AttributeError: module 'devx' has no attribute 'devx'``)."""
    script = tmp_path / "devx_ns.py"
    script.write_text(textwrap.dedent(DEVX_NS_PROGRAM))
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    assert "child: devx.debug" in done.stdout, done.stdout
    assert "root: devx.debug error: None" in done.stdout, done.stdout


OLD_MODULES_PROGRAM = """
    import warnings

    import trio
    import devx as tractor


    def hello() -> str:
        return "hello from " + tractor.current_actor().path


    async def main() -> None:
        async with tractor.open_nursery(rpc_module_paths=[__name__]) as an:
            kept = await an.start_actor("kept", rpc_module_paths=[__name__])
            print(await kept.run(hello), flush=True)
            once = await an.run_in_actor(hello, name="once", rpc_module_paths=[__name__])
            print(await once.result(), flush=True)
            await an.cancel()


    if __name__ == "__main__":
        warnings.simplefilter("always", DeprecationWarning)
        trio.run(main)
"""


def test_the_peers_old_rpc_module_paths_is_enable_modules_with_a_warning(tmp_path):
    """The peer still takes ``rpc_module_paths=`` (``open_root_actor``/``open_nursery``,
    ``start_actor``, ``run_in_actor``) with a ``DeprecationWarning`` saying to use
    ``enable_modules=``; devx refused it as an unknown keyword (a ``TypeError`` that
    said nothing of what to use instead), and ``run_in_actor`` would hand it to the
    function as one of its own arguments."""
    script = tmp_path / "old_modules.py"
    script.write_text(textwrap.dedent(OLD_MODULES_PROGRAM))
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    assert "hello from root/kept" in done.stdout, done.stdout
    assert "hello from root/once" in done.stdout, done.stdout
    said = [line for line in done.stderr.splitlines() if "DeprecationWarning" in line]
    assert len(said) == 3, done.stderr
    assert all("use enable_modules=" in line for line in said), done.stderr
