"""A step whose stop never comes: `n` over code that turns tracing off (as a tracer, a
coverage tool or a timeout helper may: `sys.settrace(None)`). The served call returns
with its REPL still stepping; devx frees the terminal when the call's task ends
(owner_ended) and the tree ends. `python step_untraced.py thread`: the same in a
plain thread that paused with pause_from_sync (the hold is freed when it ends)."""

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


async def main() -> None:
    fn = thread_call if sys.argv[1:] == ["thread"] else served
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        print(f"root got: {await portal.run(fn)}", flush=True)
    print("tree ended", flush=True)


if __name__ == "__main__":
    trio.run(main)
