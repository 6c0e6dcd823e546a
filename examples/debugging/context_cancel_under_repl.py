"""The caller cancels a context whose callee is stopped in a REPL: `await ctx.cancel()`
asks, waits a moment (its `timeout=`, 0.616 s) for an acknowledgement that cannot come
while the REPL is live, returns, and the caller's block goes on (it says so); the callee takes
the cancel once its user continues, and that acknowledgement ends the caller's block
quietly (`ctx.cancel_acked`).

The pause is shielded (`pause(shield=True)`): the caller cancels as soon as the
worker holds the terminal, which may be a moment before its REPL is on screen, and
an unshielded pause still waiting for its prompt is cancelled like any other wait."""

import atexit
import sys
import termios

import trio

import devx
from devx.debug import lock


@devx.context
async def worker(ctx: devx.Context, base: int) -> None:
    await ctx.started(base)
    doubled = base * 2
    await devx.pause(shield=True)
    label = f"doubled is {doubled}"
    print(f"worker: {label}, now waiting to be cancelled", flush=True)
    await trio.sleep_forever()  # the caller's cancel lands here


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("worker", enable_modules=["__main__"])
        tty = lock.root_lock()
        async with portal.open_context(worker, base=21) as (ctx, _first):
            while tty.holder is None:  # the worker's REPL is live
                await trio.sleep(0.01)
            await ctx.cancel()
            print(f"caller: cancel requested, the block goes on (acked: {ctx.cancel_acked})")
            await trio.sleep_forever()  # until the worker acknowledges
        print(f"caller: the block ended quietly, cancel_acked={ctx.cancel_acked}", flush=True)
        await portal.cancel_actor()


def terminal_state() -> None:  # what the terminal was left in, as `stty -a` would say
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    atexit.register(terminal_state)  # runs after the error or the last line
    trio.run(main)
