"""A root with two children and a grandchild under the third; prints the pids of
the root and of every actor once they are all up, then waits for ctrl-c.

    python sigint_tree.py [--uds]     # --uds: the tree talks over Unix sockets
"""

import os
import sys

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def main() -> None:
    transport = "uds" if "--uds" in sys.argv else "tcp"
    async with devx.open_nursery(transport=transport) as an:
        pids = []
        for name in ("a", "b"):
            portal = await an.start_actor(name, enable_modules=["fns"])
            pids.append(await portal.run(fns.my_pid))
        nested = await an.start_actor("c", enable_modules=["fns"])
        pids.append(await nested.run(fns.my_pid))
        async with nested.open_stream_from(fns.spawn_sleepers, n=1) as stream:
            pids.extend(await anext(stream))  # the grandchild is up
            print("PIDS", " ".join(map(str, [os.getpid(), *pids])), flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
