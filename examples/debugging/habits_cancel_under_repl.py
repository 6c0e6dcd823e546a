"""`portal.cancel_actor()` while that child sits in its REPL: the cancel waits for the
REPL (no SIGTERM after the grace period: it starts again when the REPL ends), then
the child goes gracefully. With `hard`, `cancel_actor(hard_kill=True)` kills the child
under its REPL at once: the root frees the lock and puts the terminal back as it was.

    DEVX_CANCEL_GRACE=1 python examples/debugging/habits_cancel_under_repl.py [hard]
"""

import os
import sys
import termios

import trio

import devx
from devx.debug import lock


async def pause_then_sleep() -> None:
    await devx.pause()
    await trio.sleep_forever()


async def main() -> None:
    hard = sys.argv[1:] == ["hard"]
    tty_before = termios.tcgetattr(sys.stdin.fileno())
    async with devx.open_nursery(debug_mode=True, loglevel="info") as an:
        portal = await an.start_actor("sitter", enable_modules=[__name__])
        tty = lock.root_lock()

        async def call() -> None:
            try:
                await portal.run(pause_then_sleep)
            except devx.ContextCancelled:
                print("root: the child's call was cancelled, as asked", flush=True)
            except devx.ChannelClosed as exc:  # hard_kill: no goodbye from the child
                print(f"root: the child's call ended: {exc}", flush=True)

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
            graceful = await portal.cancel_actor(hard_kill=hard)
            print(f"root: cancel_actor returned graceful={graceful}", flush=True)
    same = termios.tcgetattr(sys.stdin.fileno()) == tty_before
    print(f"root: terminal settings as before the REPL: {same}", flush=True)


if __name__ == "__main__":
    trio.run(main)
