"""A fork-server tree whose root forks a helper process of its own (as a
multiprocessing pool with the fork start method does), then waits; prints
``PIDS root actor helper``.

    DEVX_SPAWN_METHOD=forkserver python fork_helper_tree.py
"""

import os
import sys
import time

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def main() -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("a", enable_modules=["fns"])
        actor = await portal.run(fns.my_pid)
        helper = os.fork()
        if helper == 0:  # the user's helper: outlives the root on purpose
            time.sleep(60)
            os._exit(0)
        print(f"PIDS {os.getpid()} {actor} {helper}\n", end="", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
