"""A plain thread of a debug-mode child pauses (``pdb.set_trace()``) while the root holds
the tree's terminal, so its request waits in the root's queue; the parent then cancels
the child (``portal.cancel_actor()``) and releases the terminal. The thread's pause
cannot be granted any more: the error it gets must say its own actor is ending (not
that the root went away). The child's atexit handler waits for the thread, which
prints what its pause raised (``THREAD GOT <type>: <message>``); no terminal
needed.

With ``to_thread``: the pause is a ``trio.to_thread.run_sync`` job's, whose request
runs in the task awaiting the job: cancelled as the actor ends, that task ends
cancelled (``TASK GOT Cancelled``), not with an error of the pause (which made it a
crash: a post-mortem REPL queued for the terminal). The root releases the terminal once
the job's request left the queue."""

import atexit
import pdb
import sys
import threading

import trio

import devx
from devx.core.schema import HOLD_CRASH
from devx.debug import lock

_done = threading.Event()


def in_thread() -> None:
    try:
        pdb.set_trace()
        print("THREAD GOT nothing: the pause returned", flush=True)
    except BaseException as exc:
        print(f"THREAD GOT {type(exc).__name__}: {exc}", flush=True)
    finally:
        _done.set()


async def start_thread() -> None:
    thread = threading.Thread(target=in_thread, name="pauser")
    thread.start()
    atexit.register(_done.wait, 60)  # the process ends only once the thread has said


def job() -> None:
    try:
        pdb.set_trace()
    except BaseException as exc:
        print(f"JOB GOT {type(exc).__name__}", flush=True)
        raise


async def run_job() -> None:
    try:
        await trio.to_thread.run_sync(job)
    except BaseException as exc:
        print(f"TASK GOT {type(exc).__name__}", flush=True)
        raise


def job_waits(tty: lock.TTYLock) -> bool:
    return any(w.path == "root/kid" and w.reason != HOLD_CRASH for w in tty.waiting)


async def main_to_thread() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        tty = lock.root_lock()
        async with trio.open_nursery() as calls:
            async with devx.debug.acquire_debug_lock():
                calls.start_soon(portal.run, run_job)
                while not job_waits(tty):
                    await tty.changed()  # the job's pause waits in the queue
                calls.start_soon(portal.cancel_actor)
                while job_waits(tty):
                    await tty.changed()  # its request dropped as the actor ends
    print("tree done", flush=True)


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        tty = lock.root_lock()
        async with devx.debug.acquire_debug_lock():
            await portal.run(start_thread)
            while not any(w.path == "root/kid" for w in tty.waiting):
                await tty.changed()  # the thread's pause waits in the queue
            await portal.cancel_actor()
    print("tree done", flush=True)


if __name__ == "__main__":
    trio.run(main_to_thread if sys.argv[1:] == ["to_thread"] else main)
