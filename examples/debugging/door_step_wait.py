"""A step that waits on its peer while the peer waits for the terminal: the
callee's REPL steps (`n`, `n`) back into its `async for`, which needs the caller's
next message; the caller pauses before sending it. The stepping callee yields the
terminal to the caller (no prompt is on screen while its step runs), and its step
stop comes back with its own banner once the caller's REPL ends: never a hang.

    python examples/debugging/door_step_wait.py
"""

import sys
import termios

import trio

import devx


@devx.context
async def echo(ctx: devx.Context) -> str:
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await devx.pause()
            await stream.send(msg + 1)
    return "echo done"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("echo", enable_modules=["__main__"])
        async with portal.open_context(echo) as (ctx, _):
            async with ctx.open_stream() as stream:
                await stream.send(1)
                got = await stream.receive()
                await devx.pause()
                await stream.send(got)
                print(f"caller got {got} then {await stream.receive()}", flush=True)
            print(f"context result: {await ctx.result()}", flush=True)
        await portal.cancel_actor()
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo_on, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo_on} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main)
