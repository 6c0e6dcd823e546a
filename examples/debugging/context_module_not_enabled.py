"""open_context on a function whose module the child does not serve: a clear error
at entry (crash REPL in the root with debug_mode), and the child stays usable."""

import trio

import devx


@devx.context
async def greeter(ctx: devx.Context) -> None:
    await ctx.started("hello")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("other", enable_modules=["os"])
        try:
            async with portal.open_context(greeter) as (_ctx, first):
                print(f"unexpected: {first}", flush=True)
        except devx.RemoteActorError as err:
            print(f"open_context failed: {err.boxed_type_name}", flush=True)
        pid = await portal.run_from_ns("os", "getpid")
        print(f"'other' still serves calls: {pid != 0}", flush=True)
        async with portal.open_context(greeter):  # not caught: the root's crash REPL
            pass


if __name__ == "__main__":
    trio.run(main)
