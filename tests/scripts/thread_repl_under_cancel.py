"""A plain thread of a debug-mode child at its breakpoint(), its REPL live, when the
parent cancels that child (portal.cancel_actor()): the child takes the cancel on its
loop (the thread's REPL leaves the loop free) and must still keep the REPL until the
user leaves it. CANCEL_TOOK: a file the child's served call writes as the cancel
reaches it (the test then types at the REPL)."""

import os
import threading

import trio

import devx
from devx.debug import lock


def in_thread() -> None:
    x = 41  # noqa: F841 (read at the REPL)
    breakpoint()
    print("thread after breakpoint", flush=True)


async def serve() -> None:
    threading.Thread(target=in_thread, name="worker-thread").start()
    try:
        await trio.sleep_forever()
    finally:
        with open(os.environ["CANCEL_TOOK"], "w") as f:
            f.write("cancelled")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        tty = lock.root_lock()
        async with trio.open_nursery() as tn:

            async def call() -> None:
                try:
                    await portal.run(serve)
                except devx.ContextCancelled:
                    pass

            tn.start_soon(call)
            while tty.holder is None:  # the thread's REPL is (about to be) live
                await tty.changed()
            await portal.cancel_actor()
    print("tree done", flush=True)


if __name__ == "__main__":
    trio.run(main)
