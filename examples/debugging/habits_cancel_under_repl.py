"""`portal.cancel_actor()` while that child sits in its REPL: the cancel waits for the
REPL (no SIGTERM after the grace period: it starts again when the REPL ends), then
the child goes gracefully.

    DEVX_CANCEL_GRACE=1 python examples/debugging/habits_cancel_under_repl.py
"""

import os

import trio

import devx
from devx.debug import lock


async def pause_then_sleep() -> None:
    await devx.pause()
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, loglevel="info") as an:
        portal = await an.start_actor("sitter", enable_modules=[__name__])
        tty = lock.root_lock()

        async def call() -> None:
            try:
                await portal.run(pause_then_sleep)
            except devx.ContextCancelled:
                print("root: the child's call was cancelled, as asked", flush=True)

        async with trio.open_nursery() as n:
            n.start_soon(call)
            while tty.holder is None:
                await tty.changed()
            go = os.environ.get("DEVX_CANCEL_GO")  # tests say when the prompt is up
            while go and not os.path.exists(go):
                await trio.sleep(0.02)
            if not go:
                await trio.sleep(2)  # a person's pace: the prompt is up by then
            print("root: cancelling root/sitter", flush=True)
            graceful = await portal.cancel_actor()
            print(f"root: cancel_actor returned graceful={graceful}", flush=True)


if __name__ == "__main__":
    trio.run(main)
