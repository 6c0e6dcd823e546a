"""A step whose stop never comes: `n` over code that turns tracing off (as a tracer, a
coverage tool or a timeout helper may: `sys.settrace(None)`). The served call returns
with its REPL still stepping; devx frees the terminal when the call's task ends
(owner_ended) and the tree ends.

    python step_untraced.py           # a served call's task
    python step_untraced.py thread    # a plain thread that paused with pause_from_sync
    python step_untraced.py to_thread # a trio.to_thread worker's job (its thread lives on)
    python step_untraced.py asyncio   # an asyncio task of an infect_asyncio actor
"""

import sys
import threading

import trio

import devx


def untrace() -> None:
    sys.settrace(None)


async def served() -> str:
    await devx.pause()
    untrace()
    return "served"


def in_thread() -> None:
    devx.pause_from_sync()
    untrace()


async def thread_call() -> str:
    worker = threading.Thread(target=in_thread, name="bg")
    worker.start()
    await trio.to_thread.run_sync(worker.join)
    return "thread joined"


async def to_thread_call() -> str:
    await trio.to_thread.run_sync(in_thread)
    return "job done"


async def in_asyncio() -> str:
    devx.pause_from_sync()
    untrace()
    return "asyncio task done"


async def asyncio_call() -> str:
    from devx import to_asyncio

    return str(await to_asyncio.run_task(in_asyncio))


async def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    modes = {"thread": thread_call, "to_thread": to_thread_call, "asyncio": asyncio_call}
    fn = modes.get(mode, served)
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor(
            "worker", enable_modules=[__name__], infect_asyncio=mode == "asyncio"
        )
        print(f"root got: {await portal.run(fn)}", flush=True)
    print("tree ended", flush=True)


if __name__ == "__main__":
    trio.run(main)
