"""A callee context crashes after `started`: its REPL first (at the raising frame),
then the error walks up and cancels the caller's block, and the root's post-mortem
shows the boxed RemoteActorError."""

import trio

import devx


@devx.context
async def checker(ctx: devx.Context, limit: int) -> None:
    await ctx.started("ready")
    async with ctx.open_stream() as stream:
        async for value in stream:
            if value > limit:
                raise ValueError(f"{value} is over the limit {limit}")
            await stream.send("ok")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("checker", enable_modules=["__main__"])
        async with portal.open_context(checker, limit=10) as (ctx, first):
            print(f"checker is {first}", flush=True)
            async with ctx.open_stream() as stream:
                for value in (1, 5, 50):
                    await stream.send(value)
                    print(f"{value}: {await stream.receive()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
