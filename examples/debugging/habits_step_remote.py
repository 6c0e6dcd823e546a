"""`s` on a remote call steps over it, in the root and in a child: `await
portal.run(f)`, `async with portal.open_context(...)`, `portal.open_stream_from(...)`
and `an.run_in_actor(...)` run in another actor, so stepping into devx's side of
them would only wander through plumbing (and stdlib frames devx calls, such as
`inspect`). Each `s` stops on the caller's next line.

    python examples/debugging/habits_step_remote.py [root|child]
"""

import sys
from collections.abc import AsyncIterator

import trio

import devx


def square(x: int) -> int:
    return x * x


async def numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@devx.context
async def echo(ctx: devx.Context, n: int) -> None:
    await ctx.started(n)


async def caller() -> int:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("callee", enable_modules=[__name__])
        await devx.pause()
        nine = await portal.run(square, x=3)
        async with portal.open_context(echo, n=4) as (_ctx, first):
            four = first
        async with portal.open_stream_from(numbers, n=3) as stream:
            three = 0
            async for x in stream:
                three += x
        one = await an.run_in_actor(square, name="one", x=5)
        twenty_five = await one.result()
        total = nine + four + three + twenty_five
        await portal.cancel_actor()
    return total


async def main(where: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            total = await caller()
        else:
            portal = await an.run_in_actor(caller, name="caller")
            total = await portal.result()
        print(f"caller returned {total}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "child")
