"""breakpoint() inside an asyncio task of an infect_asyncio actor: the REPL waits for
the tree's TTY lock like any other pause, steps through the asyncio code (`n` over an
asyncio await), and the root's own pause comes after it, one REPL at a time.

    python asyncio_breakpoint.py              # the asyncio task's REPL, then the root's
    python asyncio_breakpoint.py no-portal    # a task started by bare asyncio: told why
    python asyncio_breakpoint.py init-portal  # ... that gives itself a portal first: a REPL
    python asyncio_breakpoint.py await-pause  # `await devx.pause()` there: told what to use
"""

import asyncio
import sys

import trio

import devx
from devx import to_asyncio


async def count_up(chan: to_asyncio.LinkedTaskChannel, start: int) -> None:
    chan.started_nowait("ready")
    x = start
    breakpoint()  # in the asyncio task
    x += 1
    await asyncio.sleep(0.2)
    chan.send_nowait(x)
    await asyncio.sleep(float("inf"))


def bare_breakpoint() -> None:
    breakpoint()  # in a task asyncio started, not devx: it has no greenback portal


async def bare_task(chan: to_asyncio.LinkedTaskChannel, start: int, init: bool) -> None:
    chan.started_nowait("ready")
    await asyncio.get_running_loop().create_task(_bare(init))
    chan.send_nowait(start + 1)


async def _bare(init: bool) -> None:
    if init:
        await devx.debug.maybe_init_greenback()  # the portal devx could not give it
    bare_breakpoint()


async def await_pause(chan: to_asyncio.LinkedTaskChannel, start: int) -> None:
    chan.started_nowait("ready")
    await devx.pause()  # a trio awaitable on asyncio's side: an error saying what to use


async def count_up_pdb(chan: to_asyncio.LinkedTaskChannel, start: int) -> None:
    """`python asyncio_breakpoint.py pdb`: pdb.set_trace() there, the same REPL."""
    import pdb

    chan.started_nowait("ready")
    x = start
    pdb.set_trace()  # in the asyncio task, as people type it
    x += 1
    chan.send_nowait(x)
    await asyncio.sleep(float("inf"))


async def run_counter(start: int, mode: str) -> int:
    fn = {"": count_up, "await-pause": await_pause, "pdb": count_up_pdb}.get(mode, bare_task)
    kwargs = {"init": mode == "init-portal"} if fn is bare_task else {}
    async with to_asyncio.open_channel_from(fn, start=start, **kwargs) as (chan, first):
        assert first == "ready"
        return await chan.receive()


async def main(mode: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("aio", enable_modules=[__name__], infect_asyncio=True)
        got = await portal.run(run_counter, start=41, mode=mode)
        print(f"root got {got}", flush=True)
        await devx.pause()  # the root's REPL, after the asyncio task's
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "")
