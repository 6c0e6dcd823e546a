"""A block that ends while its child ignores the cancel (a shielded sleep): the
nursery's exit cancels it, then SIGTERMs it after DEVX_CANCEL_GRACE seconds.
Prints ``STUBBORN <pid>`` once the child is stubborn and ``EXITED <seconds>``: how
long the nursery's exit took.
"""

import os
import sys
import time

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hardening_fns as hf


async def main() -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("stubborn", enable_modules=["hardening_fns"])
        async with portal.open_stream_from(hf.shielded_stream) as stream:
            print(f"STUBBORN {await anext(stream)}\n", end="", flush=True)
            t0 = time.monotonic()
    print(f"EXITED {time.monotonic() - t0:.3f}", flush=True)


if __name__ == "__main__":
    trio.run(main)
