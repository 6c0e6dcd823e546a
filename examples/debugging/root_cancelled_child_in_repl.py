"""The root's scope times out while a child sits in its REPL: teardown waits for
the REPL to end, then cancels the child cleanly."""

import trio

import devx


async def pause_then_sleep() -> None:
    await devx.pause()
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("sitter", enable_modules=[__name__])
        with trio.move_on_after(1.0):
            await portal.run(pause_then_sleep)
        print("root: scope timed out, tearing down", flush=True)
    print("root: tree torn down cleanly", flush=True)


if __name__ == "__main__":
    trio.run(main)
