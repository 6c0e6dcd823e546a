"""Functions the peer-compatibility tests run in child actors (an importable module),
written the way programs for the peer runtime (tractor) write them."""

from __future__ import annotations

from pathlib import Path

import trio

import devx


async def assert_err(delay: float = 0) -> None:
    """The peer's own test helper: fail with a bare ``assert 0``."""
    if delay:
        await trio.sleep(delay)
    assert 0


async def assert_err_once(go: str) -> None:
    """Fail once the file ``go`` exists (the test says when)."""
    while not Path(go).exists():
        await trio.sleep(0.005)
    assert 0, "after go"


async def do_nothing() -> None:
    pass


async def sleep_forever() -> None:
    await trio.sleep_forever()


# --- contexts, written as the peer project's tests write them ---------------------------


@devx.context
async def echo_server(ctx: devx.Context) -> int:
    """Answer every message; the caller may close its side while answers are due."""
    await ctx.started()
    answered = 0
    async with ctx.open_stream() as stream:
        async for msg in stream:
            assert msg == "ping"
            await stream.send("pong")
            answered += 1
    return answered


@devx.context
async def close_stream_immediately(ctx: devx.Context) -> str:
    await ctx.started()
    async with ctx.open_stream():
        pass
    return "closed"


@devx.context
async def send_after_reading_the_end(ctx: devx.Context) -> str:
    """Read until the caller closes, then send anyway: told, as a ClosedResourceError."""
    await ctx.started()
    async with ctx.open_stream() as stream:
        async for _ in stream:
            pass
        try:
            await stream.send("too late")
        except trio.ClosedResourceError as exc:
            return f"told: {type(exc).__name__}"
    return "not told"


@devx.context
async def slow_to_ack_cancel(ctx: devx.Context, release: str) -> None:
    """Started, then sleep; once cancelled, hold the acknowledgement until ``release``
    exists (the caller's block must go on meanwhile)."""
    await ctx.started()
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            while not Path(release).exists():
                await trio.sleep(0.005)


@devx.context
async def cancel_self(ctx: devx.Context) -> None:
    await ctx.started()
    await ctx.cancel()
    await trio.sleep_forever()  # cancelled: the scope of ctx.cancel()


@devx.context
async def report_current_ctx(ctx: devx.Context) -> list:
    await ctx.started()
    return [devx.current_ipc_ctx() is ctx, devx.current_ipc_ctx().side]


async def sleep_forever_marked(marker: str) -> None:
    Path(marker).touch()
    await trio.sleep_forever()


def exit_soon(code: int = 3) -> None:
    """Return, then let the process die on its own a moment later (not by a call)."""
    import os
    import threading

    threading.Timer(0.05, os._exit, (code,)).start()


async def cancel_own_actor() -> None:
    """The actor ends itself, the peer project's way."""
    devx.current_actor().cancel_soon()
    await trio.sleep_forever()


@devx.context
async def cancel_self_then_open_stream(ctx: devx.Context, marker: str) -> None:
    """The peer's ``cancel_self``: ``ctx.cancel()`` before ``started()``, then a
    stream (refused), then a checkpoint (cancelled there); what the stream said
    goes to ``marker``."""
    await ctx.cancel()
    try:
        async with ctx.open_stream():
            pass
    except RuntimeError as exc:
        Path(marker).write_text(type(exc).__name__)
    await trio.sleep_forever()


# the peer's tests keep a callee's state in a module global, read by another call
_state: bool | None = None


async def assert_state(value: bool) -> None:
    """The peer's ``assert_state``: what the last ``expect_cancelled`` left."""
    assert _state == value, f"state is {_state}, not {value}"


@devx.context
async def expect_cancelled(ctx: devx.Context) -> None:
    """The peer's ``expect_cancelled``: an echo server that must end cancelled."""
    global _state
    _state = True
    await ctx.started()
    try:
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await stream.send(msg)
    except trio.Cancelled:
        _state = False
        raise
    raise AssertionError("expect_cancelled: the caller's cancel never came")


@devx.context
async def sleep_n_chkpt_in_finally(ctx: devx.Context, release: str) -> None:
    """The peer's test_unmasked_remote_exc callee (its sleeping case): sleep until
    cancelled, then in ``finally:`` wait (shielded) for ``release``, then run a
    checkpoint (the cancel is raised there)."""
    await ctx.started()
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            while not Path(release).exists():
                await trio.sleep(0.005)
        await trio.lowlevel.checkpoint()


@devx.context
async def retry_with_back_off(ctx: devx.Context, tries: str) -> None:
    """A retry loop: each try fails, is handled, and the loop backs off inside its
    ``except:`` block (where the caller's cancel lands); a line per try in ``tries``."""
    await ctx.started()
    while True:
        try:
            with open(tries, "a") as f:
                f.write("try\n")
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError:
            await trio.sleep(0.01)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


async def clean_up_at_the_end(marker: str, then: str) -> None:
    """The peer's test_runtime ``crash_and_clean_tmpdir``: a callback on the actor's
    ``lifetime_stack`` writes ``cleaned`` to ``marker`` when the actor ends, after
    its calls; ``then``: ``error`` (``assert 0``), ``sleep``/``sigterm`` (until
    cancelled) or ``return``."""
    actor = devx.current_actor()
    actor.lifetime_stack.callback(_write, marker, "cleaned")
    # a context manager too: the file is closed (so flushed) when the actor ends
    log = actor.lifetime_stack.enter_context(open(marker + ".cm", "w"))
    log.write("written before the end")
    _write(marker, "registered")
    if then == "error":
        assert 0
    if then in ("sleep", "sigterm"):
        await trio.sleep_forever()
