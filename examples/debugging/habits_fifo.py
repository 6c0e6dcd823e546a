"""N children ask for the terminal while the root holds it: they get it one at a
time in the order they asked (the root queues requests by when they were made).
Each child pauses; without a terminal each pause is announced and goes on, so this
runs anywhere. The telemetry file records every grant with its hold id and the time
its request was made.

    DEVX_TELEMETRY_FILE=/tmp/fifo.jsonl python examples/debugging/habits_fifo.py 8 < /dev/null
"""

import functools
import sys

import trio

import devx
from devx.debug import acquire_debug_lock, lock


async def pause_once(n: int) -> int:
    await devx.pause()
    return n


async def main(count: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [
            await an.start_actor(f"pauser{n}", enable_modules=[__name__]) for n in range(count)
        ]
        tty = lock.root_lock()
        async with trio.open_nursery() as tn:
            async with acquire_debug_lock("hold-for-fifo"):
                for n, portal in enumerate(portals):
                    tn.start_soon(functools.partial(portal.run, pause_once, n=n))
                with trio.fail_after(120):
                    while len(tty.waiting) < count:  # every child has asked
                        await tty.changed()
                order = [h.path for h in tty.waiting]
                print(f"root: {count} children wait for the terminal", flush=True)
        print("root: queue order " + " ".join(p.rsplit("/", 1)[1] for p in order), flush=True)
        print("root: all served", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 8)
