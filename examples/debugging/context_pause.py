"""A callee context pauses after `started`, inside its stream loop: the REPL is the
child's (TTY lock as for portal.run); the caller keeps its context open meanwhile."""

import trio

import devx


@devx.context
async def adder(ctx: devx.Context, base: int) -> str:
    await ctx.started(base)
    async with ctx.open_stream() as stream:
        async for msg in stream:
            total = base + msg
            await devx.pause()
            await stream.send(total)
    return "adder done"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("adder", enable_modules=["__main__"])
        async with portal.open_context(adder, base=40) as (ctx, first):
            async with ctx.open_stream() as stream:
                await stream.send(2)
                print(f"root got {await stream.receive()} (first={first})", flush=True)
            print(f"context result: {await ctx.result()}", flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
