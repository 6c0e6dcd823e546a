"""Pauses inside calls of both kinds on a PTY (tests/test_repl_inline.py): an async
function that awaits (a task of its own) and ``await devx.pause()``; then one with no
await that calls the sync ``pause_from_sync()`` (with greenback on nothing async runs
inline: the call keeps the task whose greenback portal the pause needs); then the
same without greenback, where that sync pause is a clear error, never a hang."""

import sys

import trio

import devx


async def pause_awaiting() -> str:
    x = 41
    await devx.pause()
    return f"awaiting call resumed: {x + 1}"


async def sync_pause_no_await() -> str:
    y = 6
    devx.pause_from_sync()
    return f"no-await call resumed: {y * 7}"


async def main(greenback: bool) -> None:
    async with devx.open_nursery(debug_mode=True, maybe_enable_greenback=greenback) as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        if greenback:
            print(await portal.run(pause_awaiting), flush=True)
        try:
            print(await portal.run(sync_pause_no_await), flush=True)
        except devx.RemoteActorError as err:
            print(f"boxed {err.boxed_type_name}", flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main, sys.argv[1:] != ["--no-greenback"])
