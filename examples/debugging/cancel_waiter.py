"""A child waiting for the TTY lock is cancelled: it stops waiting cleanly, leaves
the queue, and the REPL holder is not disturbed."""

import trio

import devx
from devx.debug import lock


async def pause_here() -> None:
    await devx.pause()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        holder = await an.start_actor("holder", enable_modules=[__name__])
        waiter = await an.start_actor("waiter", enable_modules=[__name__])
        tty = lock.root_lock()

        async def wait_in_line() -> None:
            # cancelled at this actor's own request (cancel_actor below): the call
            # ends with None, not a ContextCancelled raised back to its requester
            result = await waiter.run(pause_here)
            print(f"root: the waiter's pause() was cancelled (result {result!r})", flush=True)

        async with trio.open_nursery() as n:
            n.start_soon(holder.run, pause_here)
            while tty.holder is None:
                await trio.sleep(0.01)
            n.start_soon(wait_in_line)
            while not tty.waiting:
                await trio.sleep(0.01)
            print(f"root: {tty.waiting[0].path} waits for the TTY", flush=True)
            graceful = await waiter.cancel_actor()
            print(
                f"root: waiter cancelled (graceful={graceful}), queue={len(tty.waiting)}",
                flush=True,
            )
    print("root: done", flush=True)


if __name__ == "__main__":
    trio.run(main)
