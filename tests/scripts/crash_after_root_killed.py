"""A debug tree whose root the test SIGKILLs: the child's cleanup then raises while
its actor stops by itself (its parent gone), so its crash finds no root to take
the terminal from. Prints ``PIDS <root> <child>`` once the child waits."""

import os

import trio

import devx


@devx.context
async def wait_then_fail(ctx: devx.Context) -> None:
    try:
        await ctx.started(os.getpid())
        await trio.sleep_forever()
    finally:
        raise RuntimeError("cleanup failed after the root died")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        async with portal.open_context(wait_then_fail) as (_, pid):
            print(f"PIDS {os.getpid()} {pid}", flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
