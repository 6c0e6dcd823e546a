"""Contexts next to ``portal.run`` and ``open_stream_from``, in the same run.

- round trip: ``open_context`` -> ``started`` -> exit with the result, against an
  empty ``portal.run`` (one request/reply);
- stream messages per second: callee -> caller (``open_stream_from`` and a context
  stream), caller -> callee (a context stream), and an echo (send, then receive).

Run: ``python bench/bench_context.py [N]`` (N stream messages; default 20000).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import AsyncIterator

import trio

import devx

N = 20000  # set from argv in __main__ (a child loads this module too)
SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in (
    "",
    "0",
)  # make test: runs, measures nothing
ROUNDS = 20 if SMOKE else 500


def noop() -> None:
    return None


@devx.context
async def ctx_noop(ctx: devx.Context) -> None:
    await ctx.started()


async def gen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@devx.context
async def ctx_produce(ctx: devx.Context, n: int) -> None:
    await ctx.started()
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)


@devx.context
async def ctx_consume(ctx: devx.Context) -> int:
    await ctx.started()
    count = 0
    async with ctx.open_stream() as stream:
        async for _ in stream:
            count += 1
    return count


@devx.context
async def ctx_echo(ctx: devx.Context) -> None:
    await ctx.started()
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)


async def per_call(fn, rounds: int) -> float:
    for _ in range(20):
        await fn()
    t = time.perf_counter()
    for _ in range(rounds):
        await fn()
    return (time.perf_counter() - t) / rounds


async def main() -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("bench", enable_modules=["__main__"])

        async def run_once() -> None:
            await portal.run(noop)

        async def ctx_once() -> None:
            async with portal.open_context(ctx_noop):
                pass

        runs, ctxs = [], []
        for _ in range(3):  # interleaved rounds, medians
            runs.append(await per_call(run_once, ROUNDS))
            ctxs.append(await per_call(ctx_once, ROUNDS))
        run_us, ctx_us = statistics.median(runs) * 1e6, statistics.median(ctxs) * 1e6
        print(f"portal.run round trip            {run_us:8.1f} us")
        print(f"open_context->started->result    {ctx_us:8.1f} us  ({ctx_us / run_us:.2f}x)")

        t = time.perf_counter()
        async with portal.open_stream_from(gen, n=N) as items:
            async for _ in items:
                pass
        base = N / (time.perf_counter() - t)
        print(f"open_stream_from  callee->caller {base:10,.0f} msg/s")

        t = time.perf_counter()
        async with portal.open_context(ctx_produce, n=N) as (ctx, _):
            async with ctx.open_stream() as stream:
                async for _ in stream:
                    pass
        rate = N / (time.perf_counter() - t)
        print(f"context stream    callee->caller {rate:10,.0f} msg/s  ({rate / base:.2f}x)")

        t = time.perf_counter()
        async with portal.open_context(ctx_consume) as (ctx, _):
            async with ctx.open_stream() as stream:
                for i in range(N):
                    await stream.send(i)
            assert await ctx.result() == N
        rate = N / (time.perf_counter() - t)
        print(f"context stream    caller->callee {rate:10,.0f} msg/s")

        n = N // 4
        t = time.perf_counter()
        async with portal.open_context(ctx_echo) as (ctx, _):
            async with ctx.open_stream() as stream:
                for i in range(n):
                    await stream.send(i)
                    await stream.receive()
        rate = n / (time.perf_counter() - t)
        print(f"context stream    echo round trip {rate:9,.0f} /s")
        await portal.cancel_actor()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        N = int(sys.argv[1])
    trio.run(main)
