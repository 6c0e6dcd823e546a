"""A tree that opens many contexts (a context per request), for the timeline tests:
``tel_many_contexts.py N``."""

from __future__ import annotations

import sys

import trio

import devx


@devx.context
async def echo(ctx: devx.Context) -> str:
    await ctx.started("hi")
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)
    return "done"


async def main(n: int) -> None:
    async with devx.open_nursery(name="root") as an:
        portal = await an.start_actor("worker", enable_modules=["__main__"])
        for i in range(n):
            async with portal.open_context(echo) as (ctx, _first):
                async with ctx.open_stream() as stream:
                    await stream.send(i)
                    await stream.receive()
                await ctx.result()
        print(f"opened {n}", flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
