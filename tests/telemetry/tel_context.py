"""A tree that opens contexts, for the telemetry tests: ``tel_context.py``."""

from __future__ import annotations

import trio

import devx


@devx.context
async def echo(ctx: devx.Context) -> str:
    await ctx.started("hi")
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)
    return "done"


@devx.context
async def wait(ctx: devx.Context) -> None:
    await ctx.started()
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(name="root") as an:
        portal = await an.start_actor("worker", enable_modules=["__main__"])
        async with portal.open_context(echo) as (ctx, _first):
            async with ctx.open_stream() as stream:
                await stream.send(1)
                await stream.receive()
            print(f"result: {await ctx.result()}", flush=True)
        async with portal.open_context(wait) as (ctx, _):
            await ctx.cancel()
        # a third party cancels the callee's actor (here a sibling task of the root)
        async with trio.open_nursery() as tn:
            try:
                async with portal.open_context(wait):
                    tn.start_soon(portal.cancel_actor)
                    await trio.sleep_forever()
            except devx.ContextCancelled as err:
                print(f"cancelled by {err.canceller}", flush=True)


if __name__ == "__main__":
    trio.run(main)
