"""A root with a child whose loop is blocked in ``time.sleep`` and a child whose
grandchild's loop is; prints ``PIDS root sleeper mid leaf`` once all are blocked,
then waits (to be SIGKILLed).

    python blocked_tree.py [--uds]
"""

import os
import sys

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import hardening_fns as hf


async def main() -> None:
    transport = "uds" if "--uds" in sys.argv else "tcp"
    async with devx.open_nursery(transport=transport) as an:
        sleeper = await an.start_actor("sleeper", enable_modules=["hardening_fns"])
        mid = await an.start_actor("mid", enable_modules=["hardening_fns"])
        async with (
            sleeper.open_stream_from(hf.blocked_stream) as s1,
            mid.open_stream_from(hf.blocked_grandchild) as s2,
        ):
            pids = [await anext(s1), *await anext(s2)]
            print(f"PIDS {' '.join(map(str, [os.getpid(), *pids]))}\n", end="", flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
