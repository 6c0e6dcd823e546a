"""A REPL's step ended by a cancel from outside its actor: the root cancels the call
the paused child serves (`call`, a timeout of the caller's) or the child itself
(`actor`, `portal.cancel_actor()`) while you sit at the prompt; your next `n` over an
`await` meets the cancel, and one line says what ended the REPL (which actor, by whom)
before the code unwinds.

    python examples/debugging/cancel_under_step.py [call|actor]
"""

import os
import sys

import trio

import devx
from devx.debug import lock


async def work() -> int:
    x = 1
    await devx.pause()
    x += 1
    await trio.sleep(0.1)
    return x


async def after() -> str:
    return "served"


async def main() -> None:
    mode = (sys.argv[1:] or ["call"])[0]
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("w", enable_modules=[__name__])
        tty = lock.root_lock()
        async with trio.open_nursery() as n:
            scope = trio.CancelScope()

            async def call() -> None:
                with scope:
                    print(f"root: got {await portal.run(work)}", flush=True)
                print(f"root: the call was cancelled: {scope.cancelled_caught}", flush=True)

            n.start_soon(call)
            while tty.holder is None:
                await tty.changed()
            go = os.environ.get("DEVX_CANCEL_GO")  # tests say when the prompt is up
            while go and not os.path.exists(go):
                await trio.sleep(0.02)
            if not go:
                await trio.sleep(2)  # a person's pace: the prompt is up by then
            if mode == "actor":
                print("root: cancelling root/w", flush=True)
                await portal.cancel_actor()
                return
            scope.cancel()
        # one write: a TTY gets each of print's arguments as a write of its own, and the
        # child's "REPL ends" line may come between them
        print(f"root: after: {await portal.run(after)}", flush=True)


if __name__ == "__main__":
    trio.run(main)
