"""A root with a child serving a call forever, for SIGTERM sent to the root. Prints
``READY <root pid> <child pid>`` once the call runs, then (by the first argument):

    python sigterm_root.py wait      # waits in trio (the tree ends gracefully)
    python sigterm_root.py blocked   # blocks its loop in time.sleep (ended after the grace)
    python sigterm_root.py own       # the program's own SIGTERM handler (devx keeps out)
    python sigterm_root.py busy      # sync chunks (BUSY once in one); the one a SIGTERM
                                     # comes in runs on for 2 s (past a child's react wait)

It prints ``FINALLY`` when its block unwinds, ``OUT`` after the root's block and ``AFTER``
after ``trio.run``.
"""

import os
import signal
import sys
import time

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hardening_fns as hf


async def main(mode: str) -> None:
    async with devx.open_nursery(name="termroot") as an:
        if mode == "own":
            signal.signal(signal.SIGTERM, lambda *_: print("OWN HANDLER", flush=True))
        child = await an.start_actor("server", enable_modules=["hardening_fns"])
        try:
            async with child.open_stream_from(hf.pid_then_wait) as stream:
                print(f"READY {os.getpid()} {await anext(stream)}", flush=True)
                if mode == "blocked":
                    time.sleep(600)
                elif mode == "busy":
                    from devx.runtime.root_term import sigterm_received

                    while True:  # a loop of sync chunks (a sync client's calls, say)
                        await trio.sleep(0)
                        print("BUSY", flush=True)  # in a chunk: the loop takes nothing
                        while not sigterm_received():
                            time.sleep(0.01)
                        print("SIGTERM SEEN", flush=True)
                        time.sleep(2.0)  # the rest of the chunk the SIGTERM came in
                elif mode == "own":
                    with trio.fail_after(60):
                        while not os.path.exists(sys.argv[2]):  # the test saw the handler
                            await trio.sleep(0.05)
                else:
                    await trio.sleep_forever()
        finally:
            print("FINALLY", flush=True)  # the block unwinds (a cancel, not a kill)
    print("OUT", flush=True)  # a SIGTERM'd root dies as its root block ends


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
    print("AFTER", flush=True)
