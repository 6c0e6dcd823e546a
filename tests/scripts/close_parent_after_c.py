"""A child's context pauses; after `c` its code closes its channel to the root at once
(no checkpoint in between), as the peer project's subactor_bp_in_ctx.py example does.
The REPL was left: the root must not say the child went away holding the terminal
(tests/test_queue_visible.py)."""

import trio

import devx


@devx.context
async def pause_then_close(ctx: devx.Context) -> None:
    await ctx.started()
    await devx.pause()
    await ctx.chan.aclose()  # the code after `c`: the channel to the root goes
    print("closer: channel closed", flush=True)


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("closer", enable_modules=[__name__])
        try:
            async with portal.open_context(pause_then_close) as (ctx, _):
                await ctx.result()
        except devx.ActorExited:
            print("root: the closer went away", flush=True)
        await an.cancel()
    print("root: done", flush=True)


if __name__ == "__main__":
    trio.run(main)
