"""Pauses inside calls of both kinds on a PTY (tests/test_repl_inline.py), with only
``debug_mode=True``: an async function that awaits (a task of its own) and
``await devx.pause()``; then one with no await that calls the sync
``pause_from_sync()`` (in debug mode nothing async runs inline: the call keeps the
task whose greenback portal the pause needs). With ``--sync-rpc``: a *sync* RPC
function that pauses, which in debug mode runs in a task of its own too (not inline
in the channel reader, which has no portal): its REPL opens as the others do."""

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


def sync_rpc_pause() -> str:
    y = 6
    devx.pause_from_sync()
    return f"sync call resumed: {y * 7}"


async def main(sync_rpc: bool) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        if not sync_rpc:
            print(await portal.run(pause_awaiting), flush=True)
        try:
            print(await portal.run(sync_rpc_pause if sync_rpc else sync_pause_no_await), flush=True)
        except devx.RemoteActorError as err:
            print(f"boxed {err.boxed_type_name}", flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main, sys.argv[1:] == ["--sync-rpc"])
