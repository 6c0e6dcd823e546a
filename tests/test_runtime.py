"""The actor runtime through real processes and real sockets."""

from __future__ import annotations

import functools
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

import devx
import fns
from conftest import await_until, clean_env, devx_actor_pids, run_script, scaled, wait_gone
from devx.core import schema
from devx.runtime import msgs

pytestmark = pytest.mark.timeout(60)

SCRIPTS = Path(__file__).parent / "scripts"


def run(fn, *args):
    return trio.run(fn, *args)


def test_spawn_call_sync_and_async():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("worker", enable_modules=["fns"])
            assert await portal.run(fns.add, a=1, b=2) == 3
            assert await portal.run(fns.async_add, a=3, b=4) == 7
            info = await portal.run(fns.whoami)
            assert info["name"] == "worker"
            assert info["path"] == "root/worker"
            assert info["ppid"] == os.getpid()
            assert info["pid"] != os.getpid()
            me = devx.current_actor()
            assert info["parent"] == [me.name, me.uid.uuid]
            assert info["root"] == [me.name, me.uid.uuid]
            assert await portal.run(fns.add, a=10, b=-1) == 9  # still serving

    run(main)


def test_hooks_hear_once_a_nursery_asked_its_children_to_cancel(monkeypatch):
    """Hook.children_cancelled: once per nursery end, after each live child was asked
    to cancel, while the nursery waits for them (the telemetry writer lingers then)."""
    from devx.core import hooks

    monkeypatch.setattr(hooks, "_registered", [*hooks.registered(), "fns:CHILDREN_CANCELLED"])
    fns.CHILDREN_CANCELLED.seen.clear()

    async def main():
        async with devx.open_nursery() as an:
            for name in ("a", "b"):
                portal = await an.start_actor(name, enable_modules=["fns"])
                assert await portal.run(fns.add, a=1, b=2) == 3

    run(main)
    assert fns.CHILDREN_CANCELLED.seen == [["a", "b"]]


def test_lineage_of_root():
    async def main():
        async with devx.open_root_actor(name="top") as actor:
            assert devx.current_actor() is actor
            assert actor.is_root and actor.path == "top"
            assert actor.root_uid == actor.uid and actor.parent_uid is None
            assert actor.pid == os.getpid()
        with pytest.raises(devx.NoRuntime):
            devx.current_actor()

    run(main)


def test_nested_tree_lineage():
    async def main():
        async with devx.open_nursery(name="top") as an:
            portal = await an.start_actor("mid", enable_modules=["fns"])
            mid, sub = await portal.run(fns.nested_whoami)
            root = devx.current_actor()
        assert mid["path"] == "top/mid"
        assert sub["path"] == "top/mid/sub"
        assert sub["parent"] == [mid["name"], mid["uuid"]]
        assert sub["root"] == [root.name, root.uid.uuid] == mid["root"]
        assert sub["ppid"] == mid["pid"]

    run(main)


def test_run_in_actor_result():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.run_in_actor(fns.add, name="adder", a=20, b=22)
            assert await portal.result() == 42
            assert await portal.result() == 42  # idempotent

    run(main)


def test_stream_from_async_generator():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=["fns"])
            async with portal.open_stream_from(fns.count, n=5) as stream:
                got = [item async for item in stream]
            assert got == [0, 1, 2, 3, 4]

    run(main)


def test_a_cancelled_read_of_a_stream_from_takes_nothing_and_the_stream_goes_on():
    """A ``receive()`` or ``anext()`` of an ``open_stream_from`` stream under a scope
    already cancelled raises Cancelled, takes nothing, and leaves the stream usable
    (trio's rule for a cancelled operation). Before: the stream was an async
    generator, which a Cancelled through it ended, so the next read raised
    ``EndOfChannel: the remote generator ended`` with every item still to come."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=["fns"])
            async with portal.open_stream_from(fns.count, n=5) as stream:
                got = [await stream.receive()]
                for read in (stream.receive, stream.__anext__):
                    with trio.CancelScope() as scope:
                        scope.cancel()
                        got.append(await read())
                    assert scope.cancelled_caught
                got += [item async for item in stream]
                with pytest.raises(trio.EndOfChannel, match="the remote generator ended"):
                    await stream.receive()
            assert got == [0, 1, 2, 3, 4]
            await portal.cancel_actor()

    run(main)


def test_error_boxing():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("failer", enable_modules=["fns"])
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fns.raise_boom, msg="kaboom")
            err = info.value
            assert err.boxed_type is fns.Boom
            assert err.boxed_type_name == "fns.Boom"
            assert err.src_path == "root/failer"
            assert err.src_uid.name == "failer"
            assert "kaboom" in str(err) and "raise Boom(msg)" in err.tb_str
            assert "devx/runtime" not in err.tb_str  # runtime frames trimmed
            # a sync function's error, and the actor is still usable afterwards
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fns.raise_value_error)
            assert info.value.boxed_type is ValueError
            assert await portal.run(fns.add, a=1, b=1) == 2

    run(main)


def test_run_in_actor_error_raises_from_nursery():
    async def main():
        with pytest.raises(devx.RemoteActorError) as info:
            async with devx.open_nursery() as an:
                await an.run_in_actor(fns.raise_boom, name="one", msg="solo")
        assert info.value.boxed_type is fns.Boom
        assert "solo" in str(info.value)

    run(main)


def test_several_failures_make_an_exception_group(tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()

    async def main():
        with pytest.raises(BaseExceptionGroup) as info:
            async with devx.open_nursery() as an:
                for i in range(3):  # all three fail together, once all three are up
                    await an.run_in_actor(
                        fns.raise_boom, name=f"f{i}", msg=f"e{i}", barrier=str(barrier), parties=3
                    )
        errors = info.value.exceptions
        assert all(isinstance(e, devx.RemoteActorError) for e in errors)
        assert sorted(e.src_path for e in errors) == ["root/f0", "root/f1", "root/f2"]
        assert sorted(e.info.message for e in errors) == ["e0", "e1", "e2"]

    run(main)


def test_error_relayed_through_two_levels():
    async def main():
        with pytest.raises(devx.RemoteActorError) as info:
            async with devx.open_nursery() as an:
                await an.run_in_actor(fns.nested_raise, name="mid")
        err = info.value
        assert err.boxed_type is fns.Boom
        assert err.src_path == "root/mid/leaf"
        assert err.relay_path == ["root/mid"]

    run(main)


def test_module_not_enabled_and_missing_function():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("strict", enable_modules=[])
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fns.add, a=1, b=2)
            assert info.value.boxed_type is devx.ModuleNotEnabled
            assert "'fns' is not enabled" in str(info.value)
            portal2 = await an.start_actor("lax", enable_modules=["fns"])
            with pytest.raises(devx.RemoteActorError) as info:
                await portal2.run_from_ns("fns", "no_such_function")
            assert info.value.boxed_type is devx.FunctionNotFound
            assert "no_such_function" in str(info.value)
            # both actors keep working
            assert await portal2.run(fns.add, a=2, b=2) == 4
            with pytest.raises(devx.RemoteActorError):
                await portal.run(fns.add, a=1, b=2)

    run(main)


def test_enable_missing_module_fails_boot():
    async def main():
        async with devx.open_nursery() as an:
            with pytest.raises(devx.RemoteActorError) as info:
                await an.start_actor("bad", enable_modules=["no_such_module_xyz"])
            assert info.value.boxed_type is ModuleNotFoundError
            assert "no_such_module_xyz" in str(info.value)

    run(main)


def test_unencodable_args_and_result():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("enc", enable_modules=["fns"])
            with pytest.raises(devx.IPCEncodeError, match="cannot be sent"):
                await portal.run(fns.add, a=object(), b=1)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fns.return_unencodable)
            assert info.value.boxed_type is devx.IPCEncodeError
            assert "return value" in str(info.value)
            assert await portal.run(fns.add, a=1, b=1) == 2
            with pytest.raises(TypeError, match="local function"):

                async def local():
                    pass

                await portal.run(local)

    run(main)


def test_cancel_scope_cancels_children():
    pids: list[int] = []

    async def main():
        with trio.CancelScope() as scope:
            async with devx.open_nursery() as an:
                for i in range(2):
                    portal = await an.start_actor(f"s{i}", enable_modules=["fns"])
                    pids.append(await portal.run(fns.my_pid))
                scope.deadline = trio.current_time() + 0.2  # times out once both are up
                await portal.run(fns.sleep_forever)
        assert scope.cancelled_caught

    run(main)
    assert len(pids) == 2
    assert not set(pids) & devx_actor_pids()  # the nursery waited for both to exit


@pytest.mark.parametrize("when", [0, 1, 3, "booting"])
def test_a_start_actor_cancelled_by_a_scope_raises_cancelled(when, monkeypatch, tmp_path):
    """A start_actor cancelled by an enclosing scope (at once, after a few scheduler
    passes, or while its child imports) raises a trio.Cancelled, as trio code expects
    (``except trio.Cancelled``), and leaves no process. Before: a BaseExceptionGroup
    of Cancelled (a CancelScope caught it; ``except trio.Cancelled`` did not)."""
    monkeypatch.setenv("FAULTS_IDLE_IMPORT", "600")  # (its child never gets ready)
    importing = tmp_path / "importing"
    monkeypatch.setenv("SLOW_IMPORT_MARKER", str(importing))
    raised: list[BaseException] = []

    async def main() -> None:
        async with devx.open_nursery() as an:
            before = devx_actor_pids()
            with trio.CancelScope() as cs:

                async def canceller() -> None:
                    if when == "booting":
                        await await_until(importing.exists, scaled(10), "the child's import")
                    else:
                        for _ in range(int(when)):
                            await trio.lowlevel.checkpoint()
                    cs.cancel()

                async with trio.open_nursery() as n:
                    n.start_soon(canceller)
                    try:
                        await an.start_actor("a", enable_modules=["slow_import"])
                    except BaseException as exc:
                        raised.append(exc)
                        raise
            assert cs.cancelled_caught
            assert not wait_gone(devx_actor_pids() - before)

    run(main)
    (exc,) = raised
    assert isinstance(exc, trio.Cancelled), repr(exc)


def test_a_deadline_that_fires_in_the_teardown_leaves_the_error_as_it_is(tmp_path, monkeypatch):
    """The block raises while its child's loop is blocked (sync), and the user's own
    trio.fail_after around the tree fires while devx tears the tree down (waiting for
    that child): the block's AssertionError comes out bare, as with no deadline. Before:
    inside three one-member ExceptionGroups (the root's own nurseries: the user's scope
    took its Cancelled leaves out and left the groups). Plain trio gives one group (the
    user's strict nursery's), the peer project the nested ones (peercheck's wrap2.py)."""
    import direct_fns

    monkeypatch.setenv("DEVX_CANCEL_GRACE", "600")  # the teardown waits for the child
    release, blocked = tmp_path / "release", tmp_path / "blocked"
    got: list[BaseException] = []

    async def main() -> None:
        leaving = trio.Event()

        async def deadline_in_the_teardown(scope: trio.CancelScope) -> None:
            await leaving.wait()
            await trio.testing.wait_all_tasks_blocked()  # the teardown waits for the child
            scope.deadline = trio.current_time()  # the user's deadline fires
            await trio.testing.wait_all_tasks_blocked()
            release.touch()

        async with trio.open_nursery() as n:
            try:
                with trio.fail_after(scaled(600)) as scope:
                    n.start_soon(deadline_in_the_teardown, scope)
                    async with devx.open_nursery() as an:
                        await an.run_in_actor(
                            direct_fns.block_until, path=str(release), marker=str(blocked)
                        )
                        await await_until(blocked.exists, scaled(10), "the child's loop blocked")
                        try:
                            raise AssertionError("the block's own")
                        finally:
                            leaving.set()
            except BaseException as exc:
                got.append(exc)

    run(main)
    (exc,) = got
    assert type(exc) is AssertionError, repr(exc)
    assert release.exists()  # (the deadline fired in the teardown)


def test_remote_call_cancelled_by_caller_keeps_actor(tmp_path):
    marker = tmp_path / "sleeping"

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("sleeper", enable_modules=["fns"])
            with trio.CancelScope() as cs:
                async with trio.open_nursery() as n:
                    call = functools.partial(portal.run, fns.sleep_forever, marker=str(marker))
                    n.start_soon(call)
                    await await_until(marker.exists, scaled(5), "the remote call under way")
                    cs.cancel()
            assert cs.cancelled_caught
            assert await portal.run(fns.add, a=1, b=1) == 2

    run(main)


def test_an_cancel_and_cancel_actor():
    async def main():
        async with devx.open_nursery() as an:
            p1 = await an.start_actor("x", enable_modules=["fns"])
            p2 = await an.start_actor("y", enable_modules=["fns"])
            pid1 = await p1.run(fns.my_pid)
            assert await p1.cancel_actor() is True
            assert pid1 not in devx_actor_pids()  # cancel_actor() returns once it exited
            with pytest.raises(devx.ChannelClosed):
                await p1.run(fns.my_pid)
            pid2 = await p2.run(fns.my_pid)
            await an.cancel()
            assert pid2 not in devx_actor_pids()

    run(main)


def test_error_in_block_cancels_children():
    pids: list[int] = []

    async def main():
        with pytest.raises(KeyError):
            async with devx.open_nursery() as an:
                portal = await an.start_actor("victim", enable_modules=["fns"])
                pids.append(await portal.run(fns.my_pid))
                async with portal.open_stream_from(fns.tick_then_sleep) as stream:
                    assert await anext(stream) == "sleeping"  # the remote call is under way
                    raise KeyError("in the block")

    run(main)
    assert pids and not set(pids) & devx_actor_pids()


def test_sibling_error_cancels_daemon_children():
    pids: list[int] = []

    async def main():
        with pytest.raises(devx.RemoteActorError):
            async with devx.open_nursery() as an:
                daemon = await an.start_actor("daemon", enable_modules=["fns"])
                pids.append(await daemon.run(fns.my_pid))
                await an.run_in_actor(fns.raise_boom, name="bad")
                pids.append(-1)  # reached: the error cancels the call below, not the spawn
                await daemon.run(fns.sleep_forever)

    run(main)
    assert pids[1:] == [-1] and pids[0] not in devx_actor_pids()


@pytest.mark.parametrize("how", ["sigkill", "os_exit", "sys_exit"])
def test_child_dying_on_its_own_is_a_clear_error(how):
    """(``sys.exit(7)`` in a function it serves ends the actor's process with code 7,
    as it ends a Python program: it said 1, and wrote the SystemExit's traceback.)"""

    async def main():
        with pytest.raises(devx.ActorExited) as info:
            async with devx.open_nursery() as an:
                portal = await an.start_actor("mortal", enable_modules=["fns"])
                if how == "sigkill":
                    pid = await portal.run(fns.my_pid)
                    os.kill(pid, signal.SIGKILL)
                    await portal.run(fns.sleep_forever)
                else:
                    await portal.run(getattr(fns, "die_hard" if how == "os_exit" else how), code=7)
        err = info.value
        assert err.name == "mortal"
        if how == "sigkill":
            assert err.exit_code == -signal.SIGKILL
            assert "SIGKILL" in str(err)
        else:
            assert err.exit_code == 7
            assert "exited with code 7" in str(err)
        assert "root/mortal" in str(err)

    run(main)


def test_a_channel_that_ends_while_its_child_lives_on_is_an_error_at_once():
    """The caller of a call whose channel ended waits for the child's exit (to say
    how it died) for a moment only: a child that lives on (its loop blocked) does not
    hold the call up. Its shielded wait once kept its own bound out: it waited for
    the exit however long that took."""

    async def main():
        with trio.fail_after(scaled(20)):  # (a hang's bound: the block lasts 600 s)
            async with devx.open_nursery() as an:
                portal = await an.start_actor("hangs_up", enable_modules=["fns"])
                with pytest.raises(devx.ActorExited, match="closed its connection"):
                    await portal.run(fns.hang_up_and_block, seconds=600)
                await portal.cancel_actor(hard_kill=True)

    run(main)


async def connect(addr: tuple[str, int] | str) -> trio.abc.Stream:
    """A raw connection to an actor's listener, TCP or Unix socket."""
    if isinstance(addr, str):
        return await trio.open_unix_socket(addr)
    return await trio.open_tcp_stream(*addr)


@pytest.mark.parametrize("transport", ["tcp", "uds"])
def test_malformed_frames_are_rejected_and_tree_keeps_working(devx_log, transport):
    async def main():
        async with devx.open_nursery(transport=transport) as an:
            portal = await an.start_actor("w", enable_modules=["fns"])
            addr = devx.current_actor().listen_addr
            if transport == "tcp":
                assert addr[0] == "127.0.0.1"
            payloads = [
                b"\xff\xff\xff\xffgarbage",  # absurd length
                struct.pack(">I", 3) + b"\xc1\xc1\xc1",  # invalid msgpack
                struct.pack(">I", 2) + msgspec.msgpack.encode({"x": 1})[:2],  # wrong shape
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not a devx peer at all
                struct.pack(">I", 3) + msgspec.msgpack.encode([1, 2]),  # not a message
            ]
            for payload in payloads:
                stream = await connect(addr)
                await stream.send_all(payload)
                with trio.fail_after(scaled(5)):
                    while await stream.receive_some(100):
                        pass  # the actor closes the connection
                await stream.aclose()
                assert await portal.run(fns.add, a=1, b=2) == 3

    run(main)
    rejected = [m for m in devx_log if "rejected" in m or "frame" in m]
    assert len(rejected) == 5, devx_log  # one line per connection, naming the peer
    peer = "127.0.0.1:" if transport == "tcp" else f"unix:{os.getpid()}"  # SO_PEERCRED
    assert all(peer in m for m in rejected), rejected


@pytest.mark.parametrize("transport", ["tcp", "uds"])
def test_garbage_from_an_authenticated_peer_closes_only_that_connection(devx_log, transport):
    async def main():
        async with devx.open_nursery(transport=transport) as an:
            portal = await an.start_actor("w", enable_modules=["fns"])
            actor = devx.current_actor()
            stream = await connect(actor.listen_addr)
            hello = msgs.Hello(
                uid=msgs.ActorID("intruder", "0" * 32),
                secret=actor.secret,
                pid=1,
                proto=msgs.PROTOCOL,
            )
            body = msgspec.msgpack.encode(hello)
            await stream.send_all(struct.pack(">I", len(body)) + body)
            await stream.receive_some(1000)  # HelloAck
            bad = msgspec.msgpack.encode({"type": "Start", "cid": "not an int"})
            await stream.send_all(struct.pack(">I", len(bad)) + bad)
            with trio.fail_after(scaled(5)):
                while await stream.receive_some(100):
                    pass
            assert await portal.run(fns.add, a=2, b=3) == 5

    run(main)
    assert any("intruder" in m and "undecodable" in m for m in devx_log), devx_log


@pytest.mark.parametrize("transport", ["tcp", "uds"])
def test_unauthenticated_peer_is_rejected(devx_log, transport):
    async def main():
        async with devx.open_nursery(transport=transport) as an:
            portal = await an.start_actor("w", enable_modules=["fns"])
            addr = devx.current_actor().listen_addr
            stream = await connect(addr)
            hello = msgs.Hello(uid=msgs.ActorID("mallory", "1" * 32), secret="wrong", pid=1)
            body = msgspec.msgpack.encode(hello)
            await stream.send_all(struct.pack(">I", len(body)) + body)
            with trio.fail_after(scaled(5)):
                assert await stream.receive_some(100) == b""
            start = msgs.Start(cid=1, ns="fns", func="add", kwargs={"a": 1, "b": 1})
            body = msgspec.msgpack.encode(start)
            stream2 = await connect(addr)
            await stream2.send_all(struct.pack(">I", len(body)) + body)  # no hello at all
            with trio.fail_after(scaled(5)):
                assert await stream2.receive_some(100) == b""
            assert await portal.run(fns.add, a=1, b=1) == 2

    run(main)
    assert any("mallory" in m and "secret" in m for m in devx_log), devx_log
    assert any("not Hello" in m for m in devx_log), devx_log


def test_a_peer_of_another_devx_version_is_refused_with_why(devx_log):
    """Trees that find each other through a registry (other hosts) may run two devx
    versions: a message one cannot decode would close the connection mid-session with
    a frame error. The hello says each side's wire protocol; a mismatch is refused at
    once, both ends saying why and what to do."""

    async def fake_old_actor(listener: trio.SocketListener) -> None:
        stream = await listener.accept()
        (n,) = struct.unpack(">I", await stream.receive_some(4))
        await stream.receive_some(n)  # the Hello
        ack = msgspec.msgpack.encode(msgs.HelloAck(uid=msgs.ActorID("old", "2" * 32)))
        await stream.send_all(struct.pack(">I", len(ack)) + ack)  # no proto: an old devx
        await stream.aclose()

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["fns"])
            actor = devx.current_actor()
            # an old devx connects to us: answered with our protocol, then closed
            stream = await connect(actor.listen_addr)
            hello = msgs.Hello(uid=msgs.ActorID("oldpeer", "3" * 32), secret=actor.secret, pid=1)
            body = msgspec.msgpack.encode(hello)
            await stream.send_all(struct.pack(">I", len(body)) + body)
            got = b""
            with trio.fail_after(scaled(5)):
                while chunk := await stream.receive_some(1000):
                    got += chunk
            ack = msgspec.msgpack.decode(got[4:], type=msgs.HelloAck)
            assert ack.proto == msgs.PROTOCOL
            # we connect to an old devx: a ConnectionError that says why
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            async with trio.open_nursery() as n:
                n.start_soon(fake_old_actor, listeners[0])
                port = listeners[0].socket.getsockname()[1]
                with pytest.raises(devx.ProtocolMismatch) as info:  # (a ConnectionError)
                    await actor.connect_to(("127.0.0.1", port))
            assert await portal.run(fns.add, a=1, b=1) == 2  # the tree goes on

        msg = str(info.value)
        assert "runs a devx from before the protocol check" in msg, msg
        assert f"runs wire protocol {msgs.PROTOCOL}: run the same devx version" in msg, msg

    run(main)
    refused = [m for m in devx_log if "oldpeer" in m]
    assert len(refused) == 1 and "run the same devx version in both trees" in refused[0], devx_log


def test_uds_transport():
    async def main():
        async with devx.open_nursery(transport="uds") as an:
            addr = devx.current_actor().listen_addr
            assert isinstance(addr, str) and os.path.exists(addr)
            assert os.stat(addr).st_mode & 0o077 == 0
            portal = await an.start_actor("u", enable_modules=["fns"])
            _mid, sub = await portal.run(fns.nested_whoami)
            assert sub["path"] == "root/u/sub"
        assert not os.path.exists(addr)

    run(main)


def test_a_uds_root_removes_the_sockets_killed_actors_left(monkeypatch):
    """A killed actor cannot remove its Unix socket; the next uds root removes those
    whose process is gone, and nothing else (trial5: 27 had piled up)."""
    import socket
    import tempfile

    from devx.runtime.ipc import socket_dir

    base = tempfile.TemporaryDirectory(prefix="u")  # short: a socket path has ~100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", base.name)
    d = socket_dir(base.name)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid: no process has it now

    def bound(name: str) -> str:
        path = os.path.join(d, name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(path)  # closed without unlinking: what a SIGKILL leaves
        return path

    stale = bound(f"actor-{gone.pid}-0badcafe.sock")
    live = bound(f"actor-{os.getpid()}-0badcafe.sock")  # a live process's: kept
    other = os.path.join(d, f"actor-{gone.pid}-0badf00d.sock")
    Path(other).write_text("not a socket")  # not a socket: kept

    async def main():
        async with devx.open_nursery(transport="uds") as an:
            portal = await an.start_actor("u", enable_modules=["fns"])
            assert await portal.run(fns.add, a=1, b=1) == 2

    try:
        run(main)
        for t in threading.enumerate():  # the root (this process) prunes in a thread
            if t.name == "devx-prune-sockets":
                t.join(scaled(10))
        assert not os.path.exists(stale)
        assert os.path.exists(live) and os.path.exists(other)
    finally:
        base.cleanup()


def test_sigint_at_root_tears_down_the_tree(proc_tree):
    before = devx_actor_pids()
    tree = proc_tree(SCRIPTS / "sigint_tree.py")
    root, *pids = tree.pids()
    assert root == tree.pid and len(pids) == 4  # a, b, c and c's grandchild
    assert set(pids) == devx_actor_pids() - before
    os.killpg(tree.pid, signal.SIGINT)  # what ctrl-c in a terminal does
    _, err = tree.communicate(timeout=scaled(10))
    assert tree.returncode != 0
    assert "KeyboardInterrupt" in err
    assert not wait_gone(set(pids))


@pytest.mark.parametrize("launched", [False, True], ids=["python", "launcher"])
def test_main_module_functions_run_in_children(tmp_path, launched):
    """``launcher``: the script run by a launcher that imported multiprocessing first,
    as ``coverage run script.py`` does (``__mp_main__`` is the launcher's module): the
    children load the user's script, not the launcher (they loaded bin/coverage)."""
    script = tmp_path / "mainmod.py"
    script.write_text(
        "import os, trio, devx\n"
        "print('TOPLEVEL', os.getpid(), flush=True)\n"
        "def square(x):\n"
        "    return x * x\n"
        "async def main():\n"
        "    async with devx.open_nursery() as an:\n"
        "        p = await an.start_actor('m', enable_modules=[__name__])\n"
        "        print('SQUARE', await p.run(square, x=7), flush=True)\n"
        "        r = await an.run_in_actor(square, name='r', x=3)\n"
        "        print('RESULT', await r.result(), flush=True)\n"
        "if __name__ == '__main__':\n"
        "    print('MAINBLOCK', flush=True)\n"
        "    trio.run(main)\n"
    )
    if launched:
        out = run_script(SCRIPTS / "launcher_like_coverage.py", str(script), cwd=tmp_path)
    else:
        out = run_script(script, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "SQUARE 49" in out.stdout and "RESULT 9" in out.stdout
    assert out.stdout.count("MAINBLOCK") == 1  # never re-run in children
    assert out.stdout.count("TOPLEVEL") == 3  # the root and each child imported it


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_children_run_under_the_roots_interpreter_options(tmp_path, method):
    """``python -X dev -X faulthandler -W error::UserWarning tree.py``: every actor runs
    so, as multiprocessing's children do (they ran with none of them: no dev mode, no
    faulthandler, the warnings filters of a plain python)."""
    script = tmp_path / "flags.py"
    script.write_text(
        "import faulthandler, sys, trio, devx\n"
        "def flags():\n"
        "    return repr((sys.flags.dev_mode, faulthandler.is_enabled(), sys._xoptions,\n"
        "                 sys.warnoptions))\n"
        "async def main():\n"
        "    async with devx.open_nursery() as an:\n"
        "        p = await an.start_actor('c', enable_modules=[__name__])\n"
        "        print('ROOT', flags(), flush=True)\n"
        "        print('CHILD', await p.run(flags), flush=True)\n"
        "        await an.cancel()\n"
        "if __name__ == '__main__':\n"
        "    trio.run(main)\n"
    )
    options = ("-X", "dev", "-X", "faulthandler", "-W", "error::UserWarning")
    out = run_script(*options, str(script), cwd=tmp_path, DEVX_SPAWN_METHOD=method)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert "(True, True, {'dev': True, 'faulthandler': True}, [" in lines["ROOT"], out.stdout
    assert "'error::UserWarning'" in lines["ROOT"], out.stdout
    assert lines["CHILD"] == lines["ROOT"], out.stdout


# a script whose root calls square(x=7) in a child that loads the script as its main
# module, and prints the answer: how a program run by some launcher finds its functions
SQUARE_SCRIPT = """\
import trio, devx
def square(x):
    return x * x
async def main():
    async with devx.open_nursery() as an:
        p = await an.start_actor('c', enable_modules=[__name__])
        print('SQUARE', await p.run(square, x=7), flush=True)
        await an.cancel()
if __name__ == '__main__':
    trio.run(main)
"""


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_tree_runs_with_encoding_warnings_as_errors(tmp_path, method):
    """``python -X warn_default_encoding -W error::EncodingWarning tree.py`` (a project
    checking PEP 597 in its CI): devx opens no text file without an encoding. The fork
    server's spawn read /proc/self/status (the root) and the zygote its comm without
    one: the first start_actor failed with EncodingWarning (and every actor runs under
    the root's options since fc57d54, the zygote too)."""
    script = tmp_path / "enc.py"
    script.write_text(SQUARE_SCRIPT)
    options = ("-X", "warn_default_encoding", "-W", "error::EncodingWarning")
    out = run_script(*options, str(script), cwd=tmp_path, DEVX_SPAWN_METHOD=method)
    assert out.returncode == 0, out.stderr
    assert "SQUARE 49" in out.stdout and "EncodingWarning" not in out.stderr, out.stderr


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_children_whose_startup_imports_multiprocessing_find_the_scripts_functions(
    tmp_path, method
):
    """Every process of the tree imports multiprocessing at startup, as coverage's
    subprocess hook (its .pth) does under ``coverage run`` with ``patch = subprocess``:
    a child's ``__mp_main__`` is then its own first ``__main__``, and the child took
    it for the root's script (``FunctionNotFound: module '__main__' has no function
    'square'``)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import multiprocessing\n")
    script = tmp_path / "mainmod.py"
    script.write_text(SQUARE_SCRIPT)
    out = run_script(script, cwd=tmp_path, PYTHONPATH=str(site), DEVX_SPAWN_METHOD=method)
    assert out.returncode == 0, out.stderr
    assert "SQUARE 49" in out.stdout, out.stdout


def test_a_tree_run_again_at_the_prompt_of_python_i_loads_the_script(tmp_path):
    """``python -i script.py``, then ``trio.run(main)`` again at its prompt: Python took
    ``__file__`` out of ``__main__`` when the script ended, and the children of the
    second tree could not load it (``ModuleNotEnabled: ... no file to load``)."""
    script = tmp_path / "again.py"
    script.write_text(SQUARE_SCRIPT)
    out = subprocess.run(
        [sys.executable, "-i", str(script)],
        input="trio.run(main)\n",
        capture_output=True,
        text=True,
        timeout=scaled(30),
        cwd=tmp_path,
        env={**clean_env(), "NO_COLOR": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SQUARE 49") == 2, out.stdout + out.stderr


def test_child_exits_when_parent_is_killed(proc_tree):
    before = devx_actor_pids()
    tree = proc_tree(SCRIPTS / "sigint_tree.py")
    _root, *pids = tree.pids()
    assert set(pids) == devx_actor_pids() - before and len(pids) == 4
    os.kill(tree.pid, signal.SIGKILL)
    tree.wait(scaled(5))
    assert not wait_gone(set(pids)), "children outlived a SIGKILLed root"


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_child_watches_its_parent_and_sigterm_from_one_thread(method):
    """One watcher thread per child (the parent's exit and SIGTERM in one select): a
    thread fewer to start at boot and to end at exit; the tests around here show
    it still does both."""

    async def main():
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("w", enable_modules=["fns"])
            return await portal.run(fns.thread_names)

    names = run(main)
    assert names.count("devx-lifeline") == 1 and "devx-sigterm" not in names, names


@pytest.mark.parametrize(
    ("how", "exit_code", "warnings"),
    [
        ("shielded", 128 + signal.SIGTERM, ["still running 0.5s after cancel: SIGTERM"]),
        ("blocked", 128 + signal.SIGTERM, ["still running 0.5s after cancel: SIGTERM"]),
        (
            "masked",
            -signal.SIGKILL,
            [
                "still running 0.5s after cancel: SIGTERM",
                "still running 2.5s after SIGTERM: SIGKILL",
            ],
        ),
    ],
)
def test_cancel_escalates_to_sigterm_then_sigkill(tmp_path, how, exit_code, warnings):
    """A child that ignores the cancel request gets SIGTERM after DEVX_CANCEL_GRACE
    seconds, which ends it even when its loop is stuck (a thread of its own sees the
    signal); one that cannot even take SIGTERM (masked) gets SIGKILL."""
    from devx.runtime.child_record import TERM_GRACE
    from devx.telemetry.readback import load_spans

    trace_file = tmp_path / "tree.otlp.jsonl"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "stubborn_child.py"), how],
        capture_output=True,
        text=True,
        timeout=scaled(10),
        env={**os.environ, "DEVX_CANCEL_GRACE": "0.5", "DEVX_TELEMETRY_FILE": str(trace_file)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, *rest = proc.stdout.splitlines()
    assert first.startswith("root: stubborn child "), proc.stdout
    pid = int(first.split()[-1])
    # the call ends when the child is gone, before or after cancel_actor() returns
    assert "root: the call ended: ChannelClosed" in rest and len(rest) == 2, proc.stdout
    (outcome,) = [line for line in rest if line.startswith("root: graceful=")]
    graceful, took = outcome.removeprefix("root: graceful=").split(" after ")
    assert graceful == "False"
    # the grace periods were waited for (lower bounds: no speed claim)
    assert float(took.removesuffix(" s")) >= 0.5 + (TERM_GRACE if how == "masked" else 0) - 0.05
    for w in (
        "still running 0.5s after cancel: SIGTERM",
        "still running 2.5s after SIGTERM: SIGKILL",
    ):
        said = proc.stderr.count(f"actor 'root/stubborn' (pid {pid}) {w}")
        assert said == (w in warnings), proc.stderr
    (exit_event,) = [
        e["attributes"]
        for s in load_spans(trace_file)
        for e in s["events"]
        if e["name"] == "devx.actor.exit"
    ]
    assert exit_event[schema.CHILD_PID] == pid and exit_event[schema.CHILD_EXIT_CODE] == exit_code
    assert exit_event[schema.CHILD_CANCEL_REQUESTED] is True


@pytest.mark.parametrize("code", [None, 7], ids=["atexit", "atexit-exits-7"])
def test_a_child_ended_with_the_block_is_on_record_with_its_code_and_reaped(
    tmp_path, monkeypatch, code
):
    """As a subprocess tree's block ends, a child says its exit code as its channel's
    last frame (after its atexit handlers) and the root records the exit with it,
    reaping the process once its own teardown ran: its atexit handlers ran, the code
    on record is the one it exited with (one that an atexit handler's os._exit made,
    said by nobody: waited for), and open_nursery returns with no process left, not
    even a zombie."""
    from devx.telemetry.readback import load_spans

    trace_file = tmp_path / "tree.otlp.jsonl"
    monkeypatch.setenv("DEVX_TELEMETRY_FILE", str(trace_file))
    mark = tmp_path / "atexit"

    async def tree() -> int:
        async with devx.open_nursery(spawn_method="subprocess") as an:
            portal = await an.start_actor("a", enable_modules=["fns"])
            return await portal.run(fns.at_exit_write_pid, path=str(mark), code=code)

    pid = run(tree)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        stat = ""
    # gone, or a new process of that pid (not ours)
    assert not stat or int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid(), stat
    assert mark.read_text() == str(pid)
    (exit_event,) = [
        e["attributes"]
        for s in load_spans(trace_file)
        for e in s["events"]
        if e["name"] == "devx.actor.exit"
    ]
    assert exit_event[schema.CHILD_PID] == pid
    assert exit_event[schema.CHILD_EXIT_CODE] == (0 if code is None else code)
    assert exit_event[schema.CHILD_CANCEL_REQUESTED] is True


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
@pytest.mark.parametrize(
    "left",
    ["an atexit handler running trio", "a suspended async generator", "a service of its own"],
)
def test_what_a_child_leaves_to_the_end_of_its_trio_run_still_runs(tmp_path, left, method):
    """A child (subprocess or forked) done with its actor ends its process from inside its trio
    run, even before its own services (listener, parent's channel) unwind, only when
    nothing else is left: an atexit handler it was given (one that runs trio itself,
    which would fail inside a run), an async generator left suspended (trio
    finalizes it: its ``finally`` runs) or a service task started by its code (its
    ``finally`` runs as it is cancelled) make it unwind and leave its run as usual."""
    mark = tmp_path / "mark"
    fn, expected = {
        "an atexit handler running trio": (fns.at_exit_run_trio, "trio ran"),
        "a suspended async generator": (fns.keep_a_suspended_async_generator, "finalized"),
        "a service of its own": (fns.start_a_service_that_writes_at_its_end, "service unwound"),
    }[left]

    async def tree() -> None:
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("a", enable_modules=["fns"])
            await portal.run(fn, path=str(mark))

    run(tree)
    assert mark.read_text() == expected


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_files_a_childs_code_left_open_keep_every_byte(tmp_path, method):
    """A child ends with ``os._exit`` (no interpreter finalization): files its code
    left open are closed first, outer layer first, as finalization would: a text
    file's buffered lines are all there, a gzip file left open has its trailer (it
    decompresses whole), a file held only in a list is written too, a zip archive
    left open is readable (before: no central directory), and a temporary
    file left open is removed. Before, all three were empty (the gzip one unreadable)
    and the temporary file stayed."""
    import gzip
    import zipfile

    lines = 100
    out = tmp_path / "out"

    async def tree() -> None:
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("a", enable_modules=["fns"])
            await portal.run(fns.leave_files_open, path=str(out), lines=lines)

    run(tree)
    expected = "".join(f"line {i}\n" for i in range(lines))
    assert Path(f"{out}.txt").read_text() == expected
    assert gzip.decompress(Path(f"{out}.gz").read_bytes()).decode() == expected
    assert Path(f"{out}.inner").read_text() == "inner\n"
    with zipfile.ZipFile(f"{out}.zip") as archive:  # (its directory written at the end)
        assert archive.read("member.txt") == b"zipped\n"
    temp = Path(Path(f"{out}.tmp").read_text())
    assert temp.parent == tmp_path and not temp.exists()


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_file_a_childs_module_opened_at_its_import_keeps_every_byte(
    tmp_path, monkeypatch, method
):
    """A file opened by a module at its import (before the actor reported ready) and
    left open is closed at the child's end too: what the actor's start made is frozen
    out of the end's walk, the files open among it remembered (without that, the file's
    buffered lines were lost)."""
    import left_open_at_import  # (here, its variable unset: this process opens nothing)

    out = tmp_path / "log"
    monkeypatch.setenv("LEFT_OPEN_AT_IMPORT", str(out))

    async def tree() -> None:
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("a", enable_modules=["left_open_at_import"])
            await portal.run(left_open_at_import.write_lines, lines=50)

    run(tree)
    assert out.read_text() == "imported\n" + "".join(f"line {i}\n" for i in range(50))


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
@pytest.mark.parametrize(
    "what",
    [
        "a thread reading a pipe",
        "a thread reading a socket's makefile('rwb')",
        "a thread blocked writing into a full pipe",
        "a lazy proxy",
    ],
)
def test_closing_what_a_child_left_open_touches_nothing_else(
    tmp_path, monkeypatch, capfd, method, what
):
    """The files a child's code left open are closed at its end (see above) without
    waiting on a thread of its code or running its code: a daemon thread blocked
    reading a pipe (a subprocess's output, a socket's ``makefile()``) holds the
    reader's lock, which closing that reader waited for (the child stuck at its end
    until its parent's SIGKILL, its other files lost: a file only read from is not
    closed now, it holds nothing to keep); a lazy proxy's ``__class__`` (read by
    ``isinstance``) ran its factory, whose error escaped the child's exit (a traceback,
    exit code 1, the files after it left unwritten). A file a daemon thread is
    blocked writing into (a pipe nobody reads: the thread holds its lock) cannot be
    closed: after a bound, a line says which and the rest are closed (before: the
    child stuck until its parent's SIGKILL)."""
    from devx.telemetry.readback import load_spans

    trace_file = tmp_path / "tree.otlp.jsonl"
    monkeypatch.setenv("DEVX_TELEMETRY_FILE", str(trace_file))
    monkeypatch.setenv("DEVX_CANCEL_GRACE", "0.5")  # (before the fix: SIGKILL after it)
    out = tmp_path / "out"

    async def tree() -> None:
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("a", enable_modules=["fns"])
            await portal.run(fns.leave_what_an_end_must_not_touch, path=str(out), what=what)

    run(tree)
    assert Path(f"{out}.txt").read_text() == "".join(f"line {i}\n" for i in range(10))
    assert not Path(f"{out}.evaluated").exists()
    said = capfd.readouterr().err
    if what == "a thread blocked writing into a full pipe":
        assert re.search(r"actor 'root/a' .* ends with the BufferedWriter \(fd \d+\)", said), said
        assert "its unwritten bytes are lost. Close it" in said
    else:
        assert "left open not closed" not in said
    (exit_event,) = [
        e["attributes"]
        for s in load_spans(trace_file)
        for e in s["events"]
        if e["name"] == "devx.actor.exit"
    ]
    assert exit_event[schema.CHILD_EXIT_CODE] == 0


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_child_that_ends_before_its_services_unwind_removes_its_unix_socket(method):
    """A child with nothing left but its own services ends its process before they
    unwind: its listener's Unix socket is removed all the same."""

    async def main():
        async with devx.open_nursery(transport="uds", spawn_method=method) as an:
            portal = await an.start_actor("u", enable_modules=["fns"])
            addr = await portal.run(fns.my_listen_addr)
            assert isinstance(addr, str) and os.path.exists(addr)
        return addr

    assert not os.path.exists(run(main))
