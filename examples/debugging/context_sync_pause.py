"""Sync code called from a callee context pauses (pause_from_sync, greenback)."""

import trio

import devx


def crunch(n: int) -> int:
    total = sum(range(n))
    devx.pause_from_sync()
    return total + 1


@devx.context
async def cruncher(ctx: devx.Context, n: int) -> int:
    await ctx.started("crunching")
    return crunch(n)


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("cruncher", enable_modules=["__main__"])
        async with portal.open_context(cruncher, n=4) as (ctx, first):
            print(f"cruncher says {first}", flush=True)
            print(f"context returned {await ctx.result()}", flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
