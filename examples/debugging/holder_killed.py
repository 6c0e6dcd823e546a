"""A child is SIGKILLed while it holds the TTY lock, its REPL live: the root frees
the lock, reports the dead child with its exit code, and the next child gets its
REPL.

The root only waits for the holder to die. Kill it once its prompt shows: from
another terminal (``kill -9 <pid>``, the pid is in its banner) or from the REPL
itself (``!import os; os.kill(os.getpid(), 9)``). tests/test_debugger.py kills it
by pid once it is reading the terminal.
"""

import trio

import devx
from devx.debug import lock


async def pause_here() -> None:
    await devx.pause()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        second = await an.start_actor("second", enable_modules=[__name__])
        tty = lock.root_lock()
        try:
            async with devx.open_nursery() as inner:
                doomed = await inner.start_actor("doomed", enable_modules=[__name__])
                await doomed.run(pause_here)
                print("root: root/doomed resumed: it was to be killed in its REPL", flush=True)
        except devx.ActorExited as err:
            print(f"root: {err}", flush=True)
        with trio.fail_after(30):
            while tty.holder is not None:
                await trio.sleep(0.01)
        print("root: lock freed after its holder died", flush=True)
        await second.run(pause_here)
        print("root: second child resumed", flush=True)


if __name__ == "__main__":
    trio.run(main)
