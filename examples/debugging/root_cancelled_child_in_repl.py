"""The root's scope times out while a child sits in its REPL: teardown waits for
the REPL to end, then cancels the child cleanly."""

import trio

import devx
from devx.debug import lock


async def pause_then_sleep() -> None:
    await devx.pause()
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("sitter", enable_modules=[__name__])
        tty = lock.root_lock()
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as n:
                n.start_soon(portal.run, pause_then_sleep)
                while tty.holder is None:  # the deadline runs from the child's REPL on
                    await trio.sleep(0.01)
                scope.deadline = trio.current_time() + 1.0
                await trio.sleep_forever()
        timed_out = scope.cancelled_caught
        print(f"root: scope timed out (cancelled: {timed_out}), tearing down", flush=True)
    print("root: tree torn down cleanly", flush=True)


if __name__ == "__main__":
    trio.run(main)
