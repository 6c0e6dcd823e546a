"""Programs written for the peer runtime (tractor) run unchanged: the semantics its
users rely on, each through real processes (issue 22)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

import devx
import peer_fns
from _pty import banner, repl_fixture
from conftest import await_until, devx_actor_pids, scaled

pytestmark = pytest.mark.timeout(90)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"


# --- 1. every failing run_in_actor child's error is collected -------------------------


@pytest.mark.parametrize("n", [3, 8])
def test_errors_of_all_failing_one_shot_children_are_collected(n):
    """Each child fails at once (a bare ``assert 0``), while the block is still
    spawning the next one: the nursery raises one group holding every child's error."""
    pids_before = devx_actor_pids()

    async def main():
        async with devx.open_nursery() as an:
            for i in range(n):
                await an.run_in_actor(peer_fns.assert_err, name=f"errorer{i}")

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    errors = info.value.exceptions
    assert len(errors) == n
    assert all(isinstance(e, devx.RemoteActorError) for e in errors)
    assert all(e.boxed_type is AssertionError for e in errors)
    assert sorted(e.src_path for e in errors) == sorted(f"root/errorer{i}" for i in range(n))
    assert not devx_actor_pids() - pids_before


def test_a_failed_one_shot_child_does_not_cancel_its_running_sibling(tmp_path):
    """The block catches the first child's error from ``portal.result()`` and lets the
    second fail afterwards: both errors are raised at the block's end."""
    go = tmp_path / "go"

    async def main():
        async with devx.open_nursery() as an:
            first = await an.run_in_actor(peer_fns.assert_err, name="first")
            await an.run_in_actor(peer_fns.assert_err_once, name="second", go=str(go))
            with pytest.raises(devx.RemoteActorError):
                await first.result()
            go.touch()  # the second fails only now, well after the first

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert [e.src_path for e in info.value.exceptions] == ["root/first", "root/second"]


def test_one_shot_failure_cancels_daemons_and_the_block_once_no_one_shot_runs():
    """Daemon children sit idle while one-shot children fail: every one-shot error is
    raised, the block's wait on a daemon is cancelled, the daemons are gone."""
    pids: list[int] = []

    async def main():
        async with devx.open_nursery() as an:
            daemons = [
                await an.start_actor(f"daemon{i}", enable_modules=["peer_fns"]) for i in range(2)
            ]
            for i in range(2):
                await an.run_in_actor(peer_fns.assert_err, name=f"actor{i}")
            pids.extend(d.chan.peer_pid for d in daemons)
            await daemons[0].run(peer_fns.sleep_forever)

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert sorted(e.src_path for e in info.value.exceptions) == ["root/actor0", "root/actor1"]
    assert pids and not set(pids) & devx_actor_pids()


# --- 2. ActorNursery.cancel_called ----------------------------------------------------


def test_cancel_called_after_an_outer_cancel_scope():
    async def main():
        with trio.move_on_after(0.5) as scope:  # fires while the block waits forever
            async with devx.open_nursery() as an:
                portal = await an.start_actor("sleeper", enable_modules=["peer_fns"])
                await portal.run(peer_fns.sleep_forever)
        assert scope.cancelled_caught
        return an

    an = trio.run(main)
    assert an.cancel_called is True
    assert not an.children


def test_cancel_called_after_a_daemon_childs_error():
    async def main():
        an = None
        try:
            async with devx.open_nursery() as an:
                portal = await an.start_actor("daemon", enable_modules=["peer_fns"])
                await portal.run(peer_fns.assert_err)
        except devx.RemoteActorError as err:
            assert err.boxed_type is AssertionError
        return an

    an = trio.run(main)
    assert an.cancel_called is True


def test_cancel_called_after_a_daemon_child_died_on_its_own():
    async def main():
        an = None
        with pytest.raises(devx.ActorExited):
            async with devx.open_nursery() as an:
                portal = await an.start_actor("mortal", enable_modules=["peer_fns"])
                await portal.run(peer_fns.exit_soon)
                await trio.sleep_forever()  # the nursery's supervision ends this
        return an

    an = trio.run(main)
    assert an.cancel_called is True


def test_a_daemon_that_ends_itself_is_gone_not_an_error():
    """``Actor.cancel_soon()`` in a daemon child: the call in flight gets
    ContextCancelled naming that actor, the process exits 0, and the nursery goes on
    and ends without an error, however late it notices the exit."""
    pids_before = devx_actor_pids()

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with pytest.raises(devx.ContextCancelled) as info:
                await portal.run(peer_fns.cancel_own_actor)
            assert info.value.canceller == portal.chan.aid
            with trio.fail_after(scaled(5)):  # the worker's process is gone ...
                while portal.chan.connected() or devx_actor_pids() - pids_before:
                    await trio.sleep(0.01)
            other = await an.run_in_actor(peer_fns.do_nothing, name="other")
            assert await other.result() is None  # ... and the nursery serves on
            assert an.cancel_called is False

    trio.run(main)


def test_cancel_called_stays_false_while_nothing_was_cancelled():
    async def main():
        async with devx.open_nursery() as an:
            portal = await an.run_in_actor(peer_fns.do_nothing, name="quick")
            assert await portal.result() is None
            assert an.cancel_called is False

    trio.run(main)


repl = repl_fixture(EXAMPLES)


def test_debug_mode_each_failing_child_gets_its_crash_repl_then_all_are_raised(repl):
    """Three one-shot children fail at once: three crash REPLs, one at a time, each at
    its own raising frame; then the root's on the group; the program raises all three."""
    r = repl("several_crashes.py")
    seen = []
    for _ in range(3):
        m = r.expect(r">>> devx CRASH in actor '(checker\d)' \(path root/checker\d, pid \d+\)")
        name = m.group(1)
        seen.append(name)
        out = r.prompt()
        assert "several_crashes.py" in out and "assert n == expected" in out
        n = int(name.removeprefix("checker"))
        assert r.cmd("p n, expected").strip().endswith(f"({n}, {n + 1})")
        assert "check(" in r.cmd("w")
        r.assert_quiet()  # no other actor's banner while this REPL is live
        r.child.sendline("c")
    assert sorted(seen) == ["checker0", "checker1", "checker2"]
    r.expect(banner("CRASH", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.expect("3 errors in an actor nursery")
    r.expect_exact("terminal: echo=True icanon=True")  # sane after four REPLs
    assert r.finish() != 0


# --- contexts ----------------------------------------------------------------------


async def _worker(an: devx.ActorNursery) -> devx.Portal:
    return await an.start_actor("worker", enable_modules=["peer_fns"])


def test_late_answers_after_the_caller_closed_are_dropped_and_the_callee_returns():
    """The peer's ping-pong: the caller sends its 10th ping and leaves the stream
    without reading the answer. The echo server's answer to it is dropped, its
    ``async for`` ends, and it returns normally (no StreamClosed killing it)."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.echo_server) as (ctx, _):
                async with ctx.open_stream() as stream:
                    count = 0
                    await stream.send("ping")
                    async for msg in stream:
                        assert msg == "pong"
                        await stream.send("ping")
                        count += 1
                        if count >= 9:
                            break
                assert await ctx.result() == 10  # every ping answered, the last one late
            assert await portal.run(peer_fns.do_nothing) is None  # the worker serves on

    trio.run(main)


def test_callee_closing_first_ends_the_callers_iteration_and_a_late_send_is_dropped():
    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.close_stream_immediately) as (ctx, _):
                async with ctx.open_stream() as stream:
                    await stream.send("yo")  # the callee closed (or is closing): dropped
                    got = [msg async for msg in stream]
                    assert got == []
                    with pytest.raises(trio.EndOfChannel):
                        await stream.receive()  # the end, again
                # 4. re-opening a closed stream is what programs catch as closed
                with pytest.raises(trio.ClosedResourceError):
                    async with ctx.open_stream():
                        pass
                assert await ctx.result() == "closed"

    trio.run(main)


def test_sending_after_reading_the_end_is_a_closed_resource_error():
    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.send_after_reading_the_end) as (ctx, _):
                async with ctx.open_stream() as stream:
                    await stream.send(1)
                assert await ctx.result() == "told: StreamClosed"

    trio.run(main)


def test_ctx_cancel_waits_for_the_ack_which_cancels_the_block_unless_it_waits_for_it(tmp_path):
    """The peer's rule (its ``Context.cancel`` and ``_maybe_cancel_and_set_remote_error``):
    the caller's ``await ctx.cancel()`` waits, bounded (``timeout=``, 0.616 s by
    default), for the callee's acknowledgement and returns. The acknowledgement
    cancels the block at its next checkpoint, unless the block's task waits for the
    callee then: ``result()`` gets it, and the block goes on. Either way the block
    ends quietly."""
    release = tmp_path / "release"

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            me = devx.current_actor().uid
            reached = []
            # acknowledged within the wait: the code after cancel() runs, up to its
            # next checkpoint, where the block is cancelled
            release.touch()
            async with portal.open_context(peer_fns.slow_to_ack_cancel, release=str(release)) as (
                ctx,
                _,
            ):
                await ctx.cancel(timeout=scaled(30))
                reached.append(ctx.cancel_acked)
                await trio.sleep_forever()
            assert reached == [True]
            assert ctx.cancelled_caught and ctx.canceller == me
            # not within the wait (the callee holds it back): cancel() returns, the
            # block goes on; the acknowledgement comes while result() waits, which
            # returns it, and the block goes on still
            release.unlink()
            async with portal.open_context(peer_fns.slow_to_ack_cancel, release=str(release)) as (
                ctx,
                _,
            ):
                await ctx.cancel()
                assert ctx.cancel_called and not ctx.cancel_acked
                assert await portal.run(peer_fns.do_nothing) is None
                release.touch()
                got = await ctx.result()
                assert isinstance(got, devx.ContextCancelled) and ctx.cancel_acked
                assert got.canceller == me
                assert await portal.run(peer_fns.do_nothing) is None
                reached.append("end of block")
            assert reached == [True, "end of block"]
            assert not ctx.cancelled_caught
            # a block that ends before the acknowledgement waits for it
            release.unlink()
            async with portal.open_context(peer_fns.slow_to_ack_cancel, release=str(release)) as (
                ctx,
                _,
            ):
                await ctx.cancel(timeout=0)
                release.touch()
            assert ctx.cancel_acked

    trio.run(main)


def test_peer_unmasked_remote_exc_result_inside_the_block_after_its_own_cancel(tmp_path):
    """The peer's test_unmasked_remote_exc (its sleeping callee): ``ctx.cancel()``,
    then ``ctxc = await ctx.wait_for_result()`` *inside* the block returns the
    ``ContextCancelled`` and the code after it runs (before: the acknowledgement
    cancelled the block inside that call, so the code after it never ran). The
    callee acknowledges within the cancel's wait (released first) or after it
    (released later): the same for the block."""
    release = tmp_path / "release"

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            for release_first in (True, False):
                release.unlink(missing_ok=True)
                if release_first:
                    release.touch()
                after = []
                async with portal.open_context(
                    peer_fns.sleep_n_chkpt_in_finally, release=str(release)
                ) as (ctx, sent):
                    assert not sent
                    await ctx.cancel()
                    release.touch()
                    ctxc = await ctx.wait_for_result()
                    after.append(ctxc)
                assert len(after) == 1 and isinstance(after[0], devx.ContextCancelled)
                assert after[0].canceller == devx.current_actor().uid
                assert ctx.cancel_acked and await ctx.wait_for_result() is after[0]
            await an.cancel()

    trio.run(main)


def test_a_callee_cancelled_in_its_except_block_acknowledges_the_cancel(tmp_path):
    """A documented difference from the peer (which unmasks the handled error): a
    callee whose retry loop backs off inside ``except OSError:`` is cancelled there by
    the caller's ``ctx.cancel()``; its ``trio.Cancelled`` carries the handled
    ``ConnectionRefusedError`` as context, and the caller gets the acknowledgement,
    its block ending quietly, not a ``RemoteActorError`` of an error nobody raised."""
    tries = tmp_path / "tries"

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.retry_with_back_off, tries=str(tries)) as (
                ctx,
                _,
            ):
                await await_until(  # it has handled an error and backs off
                    lambda: tries.exists() and tries.read_text().count("try") >= 2,
                    scaled(30),
                    "the callee's second try",
                )
                await ctx.cancel(timeout=scaled(30))
                await trio.sleep_forever()  # the acknowledgement ends the block
            assert ctx.cancel_acked and isinstance(
                await ctx.wait_for_result(), devx.ContextCancelled
            )
            await an.cancel()

    trio.run(main)


def test_peer_multitask_parent_cancels_from_nonroot_task():
    """The peer's test_multitask_parent_cancels_from_nonroot_task: another task of the
    block cancels while the block's task reads the stream; the acknowledgement is
    raised by that read (``ContextCancelled``, in the nursery's group) and reaped
    quietly where the block ends; the callee saw ``trio.Cancelled``."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            read = []
            async with portal.open_context(peer_fns.expect_cancelled) as (ctx, sent):
                await portal.run(peer_fns.assert_state, value=True)
                assert sent is None
                async with ctx.open_stream() as stream:
                    echoed = trio.Event()

                    async def send_msg_then_cancel():
                        await stream.send("yo")
                        await echoed.wait()  # the block's task reads again
                        await portal.run(peer_fns.assert_state, value=True)
                        await ctx.cancel()
                        await portal.run(peer_fns.assert_state, value=False)

                    with pytest.raises(BaseExceptionGroup) as info:
                        async with trio.open_nursery() as tn:
                            tn.start_soon(send_msg_then_cancel)
                            async for msg in stream:
                                read.append(msg)
                                echoed.set()
                    (err,) = info.value.exceptions
                    assert isinstance(err, devx.ContextCancelled)
                    assert err.canceller == devx.current_actor().uid
                    assert portal.channel.connected()
                    raise info.value  # to the block's end, where it is reaped
            assert read == ["yo"] and ctx.cancel_acked
            await portal.run(peer_fns.assert_state, value=False)
            assert portal.channel.connected()  # only the context ended
            await portal.cancel_actor()

    trio.run(main)


def test_peer_parent_exits_ctx_after_child_enters_stream_pre_stream_cancel():
    """The peer's test_parent_exits_ctx_after_child_enters_stream (its ``pre_stream``
    case): after an acknowledged ``ctx.cancel()``, ``open_stream()`` raises the
    ``ContextCancelled``, which the block's end reaps; the block was not cancelled;
    ``open_stream()`` after the block raises it again."""

    async def main():
        async with devx.open_nursery() as an:
            root = devx.current_actor()
            portal = await _worker(an)
            async with portal.open_context(peer_fns.expect_cancelled) as (ctx, sent):
                assert sent is None
                await portal.run(peer_fns.assert_state, value=True)
                await ctx.cancel(timeout=scaled(30))
                with pytest.raises(devx.ContextCancelled) as info:
                    async with ctx.open_stream():
                        raise AssertionError("a stream opened after the cancel")
                raise info.value  # to the block's end, where it is reaped
            assert info.value.canceller == devx.current_actor().uid == root.uid
            assert not ctx.cancelled_caught  # ended by the raise, not by a cancel
            assert ctx.cancel_acked
            with pytest.raises(devx.ContextCancelled):
                async with ctx.open_stream():
                    pass
            await portal.run(peer_fns.assert_state, value=False)
            assert portal.channel.connected()
            await portal.cancel_actor()

    trio.run(main)


def test_result_after_its_own_acknowledged_cancel_is_that_cancel_not_raised(tmp_path):
    """The peer's rule (``Context.wait_for_result``): a caller that cancelled the
    context itself gets the callee's ``ContextCancelled`` back from ``result()``
    as its outcome instead of having it raised, as a trio nursery reaps a
    cancelled task quietly; a cancel someone else asked for is still raised."""
    release = tmp_path / "release"
    release.touch()

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.slow_to_ack_cancel, release=str(release)) as (
                ctx,
                _,
            ):
                await ctx.cancel()
            assert ctx.cancel_acked
            got = await ctx.result()
            assert isinstance(got, devx.ContextCancelled), got
            assert got.canceller == devx.current_actor().uid
            assert await ctx.wait_for_result() is got
            # the callee cancelling itself: not this side's cancel, raised
            with pytest.raises(devx.ContextCancelled):
                async with portal.open_context(peer_fns.cancel_self) as (ctx, _):
                    await trio.sleep_forever()
            with pytest.raises(devx.ContextCancelled):
                await ctx.result()
            await portal.cancel_actor()

    trio.run(main)


def test_a_callee_that_cancels_itself_says_so_with_a_traceback_and_canceller():
    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with pytest.raises(devx.ContextCancelled) as info:
                async with portal.open_context(peer_fns.cancel_self):
                    await trio.sleep_forever()
            err = info.value
            assert err.src_path == "root/worker" and err.relay_path == []
            assert err.src_uid == portal.chan.peer_uid
            assert err.canceller == err.src_uid  # the worker itself
            assert "itself" in err.tb_str
            assert "peer_fns.py" in err.tb_str and "await ctx.cancel()" in err.tb_str
            assert "devx/runtime" not in err.tb_str and "trio/" not in err.tb_str

    trio.run(main)


def test_a_boxed_errors_msgdata_has_the_peers_keys():
    """The peer's programs read a remote error's data as ``err.msgdata[key]`` (its
    test_child_cancels_before_started: ``ce.tb_str == ce.msgdata['tb_str']``): the
    keys are the peer's, the values the error's own, for a ContextCancelled and for
    a plain boxed error; a new dict each time (changing it changes nothing)."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with pytest.raises(devx.ContextCancelled) as info:
                async with portal.open_context(peer_fns.cancel_self):
                    await trio.sleep_forever()
            ctxc = info.value
            data = ctxc.msgdata
            assert data["tb_str"] == ctxc.tb_str and "itself" in data["tb_str"]
            assert data["canceller"] == ctxc.canceller == ctxc.src_uid
            assert data["src_uid"] == portal.chan.peer_uid
            assert data["relay_path"] == [] and data["src_path"] == "root/worker"
            data["tb_str"] = ""
            assert ctxc.msgdata["tb_str"] == ctxc.tb_str != ""

            with pytest.raises(devx.RemoteActorError) as info2:
                await portal.run(peer_fns.assert_err)
            err = info2.value
            assert err.msgdata["boxed_type_str"] == err.msgdata["src_type_str"]
            assert err.msgdata["boxed_type_str"] == "AssertionError"
            assert err.msgdata["tb_str"] == err.tb_str and "assert 0" in err.tb_str
            assert err.msgdata["canceller"] is None
            assert err.msgdata["src_pid"] == err.src_pid
            await portal.cancel_actor()

    trio.run(main)


def test_a_callees_own_cancel_returns_and_cancels_it_at_its_next_checkpoint(tmp_path):
    """The peer's test_child_cancels_before_started: the callee's ``await ctx.cancel()``
    returns (before: it raised trio.Cancelled inside the call, so the code after it
    never ran); its ``open_stream()`` then is a RuntimeError, and its next checkpoint
    is cancelled: the caller gets ContextCancelled naming the callee itself."""
    marker = tmp_path / "said"

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            with pytest.raises(devx.ContextCancelled) as info:
                async with portal.open_context(
                    peer_fns.cancel_self_then_open_stream, marker=str(marker)
                ) as (ctx, _):
                    async with ctx.open_stream():
                        await trio.sleep_forever()
            assert "itself" in info.value.tb_str
            assert info.value.canceller == info.value.src_uid
            assert marker.read_text() == "ContextError"
            await portal.cancel_actor()

    trio.run(main)


def test_a_cancel_this_actor_asked_for_is_not_raised_back_to_its_run(tmp_path):
    """A ``portal.run`` in flight while the same actor cancels that actor ends with
    None; the nursery around it exits cleanly."""
    marker = tmp_path / "running"

    async def main():
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            outcome = []

            async def call():
                outcome.append(await portal.run(peer_fns.sleep_forever_marked, marker=str(marker)))

            async with trio.open_nursery() as tn:
                tn.start_soon(call)
                while not marker.exists():  # the call runs in the worker
                    await trio.sleep(0.005)
                await portal.cancel_actor()
            assert outcome == [None]

    trio.run(main)


def test_current_ipc_ctx_on_both_sides():
    """Outside a context it is None, as in the peer project (its
    test_pldrx_limiting asserts ``current_ipc_ctx() is None`` before opening one;
    devx raised ContextError there before); ``error_on_not_set=True`` raises."""

    async def main():
        assert devx.current_ipc_ctx() is None
        assert devx.current_ipc_ctx(error_on_not_set=False) is None
        with pytest.raises(devx.ContextError):
            devx.current_ipc_ctx(error_on_not_set=True)
        async with devx.open_nursery() as an:
            portal = await _worker(an)
            async with portal.open_context(peer_fns.report_current_ctx) as (ctx, _):
                assert devx.current_ipc_ctx() is ctx
                assert await ctx.result() == [True, "callee"]
            assert devx.current_ipc_ctx() is None

    trio.run(main)


# --- 8. the peer project's public names ------------------------------------------------


def test_peer_names_exist_and_behave():
    async def main():
        async with devx.open_nursery(hide_tb=False) as an:
            portal = await _worker(an)
            assert portal.chan.connected() is True
            assert devx.current_actor().msg_buffer_size == 64  # DEVX_STREAM_WINDOW
            async with portal.open_context(peer_fns.echo_server) as (ctx, _):
                async with ctx.open_stream(allow_overruns=True, msg_buffer_size=1) as stream:
                    for _ in range(3):  # more than the "buffer": credit-based, no overrun
                        await stream.send("ping")
                    assert [await stream.receive() for _ in range(3)] == ["pong"] * 3
                assert await ctx.result() == 3
                with pytest.raises(ValueError, match="msg_buffer_size"):
                    async with ctx.open_stream(msg_buffer_size=-1):
                        pass
            await portal.cancel_actor()
            with trio.fail_after(scaled(5)):  # the reader sees the connection end
                while portal.chan.connected():
                    await trio.sleep(0.01)
        assert issubclass(devx.StreamOverrun, trio.TooSlowError)
        assert issubclass(devx.StreamClosed, trio.ClosedResourceError)
        assert issubclass(devx.ContextError, RuntimeError)

    trio.run(main)


def test_legacy_stream_decorator_says_to_use_context():
    with pytest.raises(TypeError, match=r"@devx\.context"):

        @devx.stream
        async def legacy(ctx):  # the peer's old one-way streaming style
            await ctx.send_yield(1)


def test_inherit_parent_main_false_keeps_the_child_off_the_roots_script(tmp_path):
    """With ``inherit_parent_main=False`` a child does not load the root's script:
    a function of it cannot run there (a clear error), a module's function can."""
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            """
            import trio, devx, peer_fns
            LOADED = "root script"
            async def in_main():
                return LOADED
            async def main():
                async with devx.open_nursery() as an:
                    p = await an.run_in_actor(in_main, name="inherits")
                    print("inherits:", await p.result())
                    p = await an.run_in_actor(
                        peer_fns.do_nothing, name="own", inherit_parent_main=False
                    )
                    print("own:", await p.result())
                    try:
                        await an.run_in_actor(in_main, name="isolated", inherit_parent_main=False)
                    except ValueError as err:
                        print("isolated:", err)
                    await an.start_actor(
                        "daemon", enable_modules=["__main__"], inherit_parent_main=False
                    )
            if __name__ == "__main__":
                trio.run(main)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=scaled(30), env=env
    )
    assert "inherits: root script" in out.stdout, out.stderr
    assert "own: None" in out.stdout, out.stderr
    assert "isolated: run_in_actor(in_main, inherit_parent_main=False)" in out.stdout, out.stderr
    # a daemon told to serve __main__ without the script fails to boot, saying why
    assert "'__main__' is enabled but" in out.stderr and "inherit_parent_main" in out.stderr


def test_debug_mode_ctx_cancel_while_the_callee_is_in_its_repl(repl):
    """``ctx.cancel()`` returns while the callee's REPL is live; the user steps and
    continues; only then does the callee take the cancel, and its acknowledgement ends
    the caller's block quietly."""
    r = repl("context_cancel_under_repl.py")
    r.expect(banner("PAUSE", "worker", "root/worker"))
    out = r.prompt()
    assert "-> await devx.pause(shield=True)" in out
    r.saw("caller: cancel requested, the block goes on (acked: False)")
    assert r.cmd("p doubled").strip().endswith("42")
    assert "-> label = " in r.cmd("n")
    assert "-> print(" in r.cmd("n")
    assert r.cmd("p label").strip().endswith("'doubled is 42'")
    r.child.sendline("c")
    r.expect_exact("worker: doubled is 42, now waiting to be cancelled")
    r.expect_exact("caller: the block ended quietly, cancel_acked=True")
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 0


def test_debug_mode_quit_in_one_of_several_crash_repls_ends_the_tree_quietly(repl):
    """Three one-shot children crash: `c` in the first crash REPL, `q` in the second.
    The third crash, queued behind, opens no REPL; nor does the root; the quit's one
    line lists the errors the tree had; the terminal is sane."""
    r = repl("several_crashes.py")
    crash = r">>> devx CRASH in actor '(checker\d)' \(path root/checker\d, pid \d+\)"
    first = r.expect(crash).group(1)
    r.prompt()
    r.child.sendline("c")
    second = r.expect(crash).group(1)
    assert second != first
    r.prompt()
    r.child.sendline("q")
    m = r.expect(
        r"devx: quit from the REPL in actor 'root/(checker\d)'; "
        r"the tree's (?:\d+ )?errors?: ([^\r\n]*)\r\n"
    )
    assert m.group(1) == second
    # both crashes the user saw are in the one line (the third is there too when it
    # crashed before the quit: queued behind it, reported, never opened)
    for name in (first, second):
        assert f"AssertionError in actor 'root/{name}'" in m.group(2)
    r.expect_exact("terminal: echo=True icanon=True")
    assert r.finish() == 1
    text = r.log.getvalue()
    assert len(re.findall(r">>> devx [A-Z_]+ in actor", text)) == 2, text
    assert "Traceback" not in text.split("devx: quit from the REPL")[-1]


@pytest.mark.parametrize("then", ["error", "sleep", "sigterm", "return"])
def test_an_actors_lifetime_stack_is_closed_when_it_ends(tmp_path, then):
    """The peer's test_lifetime_stack_wipes_tmpfile: ``current_actor().lifetime_stack``
    is an ExitStack the actor closes once its calls are over, whether the child's
    function failed, was cancelled with its actor (by its parent, or by a SIGTERM
    sent to it: README's way to stop one child from outside), or returned; the
    root's too."""
    marker = tmp_path / "child"
    root_marker = tmp_path / "root"

    async def main() -> None:
        async with devx.open_nursery() as an:
            devx.current_actor().lifetime_stack.callback(root_marker.write_text, "cleaned")
            portal = await an.run_in_actor(
                peer_fns.clean_up_at_the_end, marker=str(marker), then=then
            )
            if then in ("sleep", "sigterm"):
                await await_until(
                    lambda: marker.exists() and marker.read_text() == "registered",
                    scaled(30),
                    "the child's callback registered",
                )
                if then == "sleep":
                    await an.cancel()
                else:
                    os.kill(portal.chan.raddr.maybe_pid, signal.SIGTERM)
                    await portal.result()
            else:
                await portal.result()

    if then == "error":
        with pytest.raises(devx.RemoteActorError):
            trio.run(main)
    elif then == "sigterm":  # the child's own cancel, not one this side asked for
        with pytest.raises(devx.ContextCancelled, match="was cancelled: SIGTERM"):
            trio.run(main)
    else:
        trio.run(main)
    assert marker.read_text() == "cleaned"
    assert (tmp_path / "child.cm").read_text() == "written before the end"
    assert root_marker.read_text() == "cleaned"


def test_a_failing_lifetime_stack_callback_is_logged_and_the_others_run(caplog):
    """A callback on ``lifetime_stack`` that raises: logged with the actor's path,
    the callbacks under it still run, and the block's own outcome stands."""
    ran: list[str] = []

    def boom() -> None:
        raise OSError("already gone")

    async def main() -> str:
        async with devx.open_root_actor():
            stack = devx.current_actor().lifetime_stack
            stack.callback(ran.append, "first registered")
            stack.callback(boom)
            return "the block's result"

    assert trio.run(main) == "the block's result"
    assert ran == ["first registered"]
    assert "actor root: a callback of its lifetime_stack raised" in caplog.text
    assert "already gone" in caplog.text
