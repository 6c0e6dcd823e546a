"""Faults round 2 (issue 24) through real processes: no input kills an actor,
strangers never block the tree, every stream is bounded, deaths nobody asked for
are reported."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec
import pytest
import trio

import devx
import faults_fns as ff
from conftest import scaled
from devx.core.settings import Settings
from devx.runtime.actor import MAX_PREAUTH_PENDING
from stranger import NOBODY, Stranger

pytestmark = pytest.mark.timeout(120)


# --- no input kills an actor ------------------------------------------------------------


@pytest.mark.parametrize("fn", [ff.raise_bad_str, ff.raise_bad_str_async])
def test_exception_whose_str_raises_is_boxed(fn):
    """The caller gets a RemoteActorError naming the type; the actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fn)
            assert await portal.run(ff.my_pid) == pid  # still serving, same process
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "faults_fns.BadStr"
    assert "its __str__ raised RuntimeError" in str(err)


def test_error_too_big_for_a_frame_is_truncated():
    """An error whose text would not fit a frame comes back cut, saying so; the
    actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(ff.raise_huge)
            assert await portal.run(ff.my_pid) == pid
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "builtins.ValueError"
    assert "[message truncated: " in err.info.message
    assert f"{ff.BIG_ERROR} characters" in err.info.message
    assert len(err.info.message) < ff.BIG_ERROR // 10


# --- strangers cannot block the tree ----------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another uid needs root (as in CI)")
@pytest.mark.parametrize("spawn_method", ["subprocess", "forkserver"])
def test_strangers_holding_every_preauth_place_cannot_stop_the_tree(spawn_method):
    """Another local user holds 3x the pre-authentication places with idle
    connections and renews each one closed: children still start (their channel is
    inherited, not accepted), and a grandchild's own connection to the root gets
    through the listener (the oldest stranger makes room)."""
    n = 3 * MAX_PREAUTH_PENDING
    stranger = Stranger(n, renew_after=0.75 * Settings().preauth_timeout)

    async def main():
        async with devx.open_nursery(
            enable_modules=["faults_fns"], spawn_method=spawn_method
        ) as an:
            addr = devx.current_actor().listen_addr
            ready = await stranger.attack(addr)
            assert ready == f"READY {NOBODY} {n}"
            try:
                portals = [
                    await an.start_actor(f"w{i}", enable_modules=["faults_fns"]) for i in range(3)
                ]
                pids = {await p.run(ff.my_pid) for p in portals}
                root_pid = await portals[0].run(ff.spawn_and_ask_root)
                # the root makes room by closing the oldest strangers: all but its
                # places' worth of the flood are closed (and renewed) once it has
                # accepted them all, which a loaded box may not have done by now
                with trio.fail_after(scaled(20)):
                    while await stranger.renewed() < n - MAX_PREAUTH_PENDING:
                        await trio.sleep(0.05)
            finally:
                report = await stranger.stop()
            return ready, pids, root_pid, report

    ready, pids, root_pid, report = trio.run(main)
    assert ready == f"READY {NOBODY} {n}"
    assert len(pids) == 3 and os.getpid() not in pids
    assert root_pid == os.getpid()
    # the stranger held its connections all along (renewing those the root dropped)
    renewed, still_open = int(report.split()[1]), int(report.split()[3])
    assert still_open == n and renewed >= n - MAX_PREAUTH_PENDING, report


# --- every stream is bounded ------------------------------------------------------------


def test_open_stream_from_sender_waits_after_one_window(monkeypatch):
    """A generator streamed to a receiver that reads nothing runs exactly one window
    ahead (plus the item it waits to send); each half window read lets it run as
    many further."""
    window = 8
    monkeypatch.setenv("DEVX_STREAM_WINDOW", str(window))

    async def produced_reaches(portal, n: int) -> int:
        with trio.fail_after(scaled(10)):
            while (got := await portal.run(ff.produced)) < n:
                await trio.sleep(0.01)
        return got

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            async with portal.open_stream_from(ff.counted, n=10 * window) as stream:
                first = await produced_reaches(portal, window + 1)
                again = await portal.run(ff.produced)  # a round trip later: still there
                got = [await anext(stream) for _ in range(window // 2)]
                second = await produced_reaches(portal, window + 1 + window // 2)
                rest = [x async for x in stream]
            return first, again, second, got + rest

    first, again, second, items = trio.run(main)
    assert (first, again) == (window + 1, window + 1)
    assert second == window + 1 + window // 2
    assert items == list(range(10 * window))  # nothing lost


# --- SIGTERM reaches a busy actor ---------------------------------------------------------


def test_sigterm_ends_an_actor_busy_in_sync_code(tmp_path, monkeypatch, capfd):
    """A SIGTERM nobody in the tree sent, to an actor whose loop spins in sync code:
    it ends within the grace (its own thread sees the signal), says why, and its
    parent is told (ActorExited with 128+SIGTERM); the caller's call ends too."""
    monkeypatch.setenv("DEVX_CANCEL_GRACE", "1")
    marker = tmp_path / "busy"

    async def main():
        call_error: list[BaseException] = []
        with pytest.raises(devx.ActorExited) as info:
            async with devx.open_nursery() as an:
                portal = await an.start_actor("busy", enable_modules=["faults_fns"])

                async def call() -> None:
                    try:
                        await portal.run(ff.busy_loop, marker=str(marker))
                    except (devx.ActorExited, devx.ChannelClosed) as exc:
                        call_error.append(exc)

                async with trio.open_nursery() as n:
                    n.start_soon(call)
                    with trio.fail_after(scaled(10)):
                        while not marker.exists() or not marker.read_text():
                            await trio.sleep(0.01)
                        os.kill(int(marker.read_text()), signal.SIGTERM)
                        await trio.sleep_forever()  # until the child's exit cancels the block
        return info.value, call_error

    err, call_error = trio.run(main)
    pid = int(marker.read_text())
    assert err.exit_code == 128 + signal.SIGTERM and err.pid == pid, err
    assert call_error, "the call in the dead actor did not end"
    said = capfd.readouterr().err
    assert f"actor 'root/busy' (pid {pid}): SIGTERM, and its loop did not react within 1s" in said


# --- deaths nobody asked for ---------------------------------------------------------------


@pytest.mark.parametrize("spawn_method", ["subprocess", "forkserver"])
@pytest.mark.parametrize("how", ["start_actor", "run_in_actor"])
def test_child_killed_just_before_the_block_exits_is_actor_exited(spawn_method, how):
    """A SIGKILL nobody in the tree sent, right before the nursery block ends (the
    nursery then stops its children): reported as ActorExited, never as a cancel."""

    async def main():
        async with devx.open_nursery(spawn_method=spawn_method) as an:
            if how == "start_actor":
                portal = await an.start_actor("victim", enable_modules=["faults_fns"])
                pid = await portal.run(ff.my_pid)
                os.kill(pid, signal.SIGKILL)
            else:
                portal = await an.run_in_actor(ff.sleep_forever_after_pid, name="victim")
                pid = await portal.run(ff.my_pid)
                os.kill(pid, signal.SIGKILL)
        return pid

    with pytest.raises(devx.ActorExited) as info:
        trio.run(main)
    assert info.value.exit_code == -signal.SIGKILL, info.value
    assert "was killed by SIGKILL" in str(info.value)


# --- names ------------------------------------------------------------------------------


def test_an_actor_name_too_long_to_boot_is_refused_at_start_actor():
    """A name whose Hello would not fit the pre-auth frame is refused up front, with
    the limit; the longest allowed name boots (also in UTF-8's widest characters)."""
    from devx.runtime.actor import MAX_ACTOR_NAME

    async def main():
        async with devx.open_nursery() as an:
            with pytest.raises(ValueError, match=f"at most {MAX_ACTOR_NAME} characters") as info:
                await an.start_actor("n" * 10_000)
            wide = "\U0001f600" * MAX_ACTOR_NAME  # 4 bytes each in UTF-8
            portal = await an.start_actor(wide, enable_modules=["faults_fns"])
            assert await portal.run(ff.my_pid) > 0
            return str(info.value)

    msg = trio.run(main)
    assert "10000 characters" in msg and len(msg) < 200


# --- many actors at once: boots queue and time out on lack of progress ----------------


def test_a_boot_that_computes_past_the_boot_timeout_still_starts(monkeypatch):
    """DEVX_BOOT_TIMEOUT bounds a boot without progress, not a busy one: a child
    whose import computes for longer than the timeout starts."""
    import slow_import

    monkeypatch.setenv("DEVX_BOOT_TIMEOUT", "1")
    monkeypatch.setenv("FAULTS_BUSY_IMPORT", "3")

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("heavy", enable_modules=["slow_import"])
            return await portal.run(slow_import.my_pid)

    assert trio.run(main) != os.getpid()


def test_a_boot_without_progress_fails_saying_so(monkeypatch):
    """A child whose import waits (no CPU time, no step towards ready) fails to
    start after DEVX_BOOT_TIMEOUT, with a message saying what was seen; the nursery
    goes on starting others."""
    monkeypatch.setenv("DEVX_BOOT_TIMEOUT", "1")
    monkeypatch.setenv("FAULTS_IDLE_IMPORT", "60")

    async def main():
        async with devx.open_nursery() as an:
            with pytest.raises(devx.ActorBootError) as info:
                await an.start_actor("waits", enable_modules=["slow_import"])
            portal = await an.start_actor("fine", enable_modules=["faults_fns"])
            assert await portal.run(ff.my_pid) > 0
            return str(info.value)

    msg = trio.run(main)
    assert "'root/waits'" in msg and "made no progress (no CPU time, no ready) for 1s" in msg


# --- fallback runtime directories ---------------------------------------------------------


def test_fallback_socket_directories_do_not_pile_up(tmp_path):
    """Run after run beside a planted devx-<uid> directory: the fresh private
    directory of the first run is reused by the next ones, not one more each time."""
    base = Path(tempfile.mkdtemp(prefix="f"))  # short: a Unix socket path has ~100 bytes
    planted = base / f"devx-{os.getuid()}"
    planted.mkdir()
    os.chmod(planted, 0o777)
    code = (
        "import os, trio, devx\n"
        "async def main():\n"
        "    async with devx.open_nursery(transport='uds') as an:\n"
        "        p = await an.start_actor('w', enable_modules=['faults_fns'])\n"
        "        import faults_fns\n"
        "        await p.run(faults_fns.my_pid)\n"
        "        print(os.path.dirname(devx.current_actor().listen_addr))\n"
        "trio.run(main)\n"
    )
    tests = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(base), "PYTHONPATH": path}
    dirs = set()
    for _ in range(3):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        dirs.add(proc.stdout.strip())
    fallbacks = [n for n in os.listdir(base) if n.startswith(f"devx-{os.getuid()}-")]
    assert len(dirs) == 1 and len(fallbacks) == 1, (dirs, fallbacks)
    assert dirs == {str(base / fallbacks[0])}


# --- large frames are freed at once ---------------------------------------------------------


def test_a_garbage_large_frame_is_freed_without_gc():
    """An authenticated peer sends a 50 MB frame that does not decode: the connection
    is closed and nothing of it (channel, buffer) waits for the cycle collector."""
    from devx.runtime import msgs

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            addr = await portal.run(ff.listen_addr)
            await portal.run(ff.freeze_gc)
            before = await portal.run(ff.closed_channels)
            for _ in range(3):
                stream = await trio.open_tcp_stream(*addr)
                hello = msgs.Hello(
                    uid=msgs.ActorID("peer", "0" * 32),
                    secret=devx.current_actor().secret,
                    pid=1,
                    proto=msgs.PROTOCOL,
                )
                body = msgspec.msgpack.encode(hello)
                await stream.send_all(struct.pack(">I", len(body)) + body)
                await stream.receive_some(1000)  # HelloAck
                size = 50 * 1024 * 1024
                await stream.send_all(struct.pack(">I", size) + b"\xc1" * size)
                with trio.fail_after(scaled(10)):
                    while await stream.receive_some(65536):
                        pass
                await stream.aclose()
            # the reader task lets go of its channel a moment after closing it
            with trio.move_on_after(scaled(5)):
                while (after := await portal.run(ff.closed_channels)) > before:
                    await trio.sleep(0.05)
            return before, after

    before, after = trio.run(main)
    assert after == before, (before, after)
