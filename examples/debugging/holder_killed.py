"""A child is SIGKILLed while it holds the TTY lock: the root frees the lock, the
dead child is reported with its exit code, and the next child gets its REPL."""

import os
import signal

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
                async with trio.open_nursery() as n:
                    n.start_soon(doomed.run, pause_here)
                    while tty.holder is None:
                        await trio.sleep(0.05)
                    print(f"root: {tty.holder.path} holds the TTY; killing it", flush=True)
                    os.kill(tty.holder.pid, signal.SIGKILL)
                    await trio.sleep_forever()
        except devx.ActorExited as err:
            print(f"root: {err}", flush=True)
        with trio.fail_after(5):
            while tty.holder is not None:
                await trio.sleep(0.01)
        print("root: lock freed after its holder died", flush=True)
        await second.run(pause_here)
        print("root: second child resumed", flush=True)


if __name__ == "__main__":
    trio.run(main)
