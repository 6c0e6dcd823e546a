"""A child that does not go when asked: ``portal.cancel_actor()`` escalates after
``DEVX_CANCEL_GRACE`` seconds to SIGTERM, then to SIGKILL.

    python stubborn_child.py shielded   # ignores the cancel request; SIGTERM ends it
    python stubborn_child.py blocked    # its loop is stuck: SIGTERM ends it (its own thread)
    python stubborn_child.py masked     # stuck, SIGTERM masked: only SIGKILL ends it

Prints the child's pid once it is stubborn, then how it went.
"""

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import trio

import devx


async def shielded(marker: str) -> None:
    with trio.CancelScope(shield=True):
        Path(marker).write_text(str(os.getpid()))
        await trio.sleep_forever()


async def blocked(marker: str) -> None:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(3600)  # a sync call in async code: the loop takes no request, no signal


async def masked(marker: str) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    Path(marker).write_text(str(os.getpid()))
    time.sleep(3600)  # and no Python handler runs in this thread: SIGTERM is never seen


async def main(how: str) -> None:
    marker = os.path.join(tempfile.mkdtemp(prefix="devx-stubborn-"), "pid")
    async with devx.open_nursery() as an:
        portal = await an.start_actor("stubborn", enable_modules=[__name__])
        async with trio.open_nursery() as n:

            async def call() -> None:
                try:
                    fn = {"shielded": shielded, "blocked": blocked, "masked": masked}[how]
                    await portal.run(fn, marker=marker)
                except (devx.ChannelClosed, devx.ActorExited) as err:
                    print(f"root: the call ended: {type(err).__name__}", flush=True)

            n.start_soon(call)
            while not os.path.exists(marker) or not Path(marker).read_text():
                await trio.sleep(0.01)
            print(f"root: stubborn child {Path(marker).read_text()}", flush=True)
            t0 = trio.current_time()
            graceful = await portal.cancel_actor()
            took = trio.current_time() - t0
            print(f"root: graceful={graceful} after {took:.1f} s", flush=True)
    os.unlink(marker)
    os.rmdir(os.path.dirname(marker))


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
