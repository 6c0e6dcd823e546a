"""A root with two children and a grandchild under the third; prints the pids of
the root and of every actor once they are all up, then waits for ctrl-c.

    python sigint_tree.py [--uds] [--root-first]

--uds: the tree talks over Unix sockets; --root-first: the root is opened alone
(``open_root_actor``) before its nursery, so a fork server starts on its first spawn.
"""

import os
import sys
from contextlib import AsyncExitStack

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def main() -> None:
    transport = "uds" if "--uds" in sys.argv else "tcp"
    async with AsyncExitStack() as stack:
        if "--root-first" in sys.argv:
            await stack.enter_async_context(devx.open_root_actor(transport=transport))
        an = await stack.enter_async_context(devx.open_nursery(transport=transport))
        pids = []
        for name in ("a", "b"):
            portal = await an.start_actor(name, enable_modules=["fns"])
            pids.append(await portal.run(fns.my_pid))
        nested = await an.start_actor("c", enable_modules=["fns"])
        pids.append(await nested.run(fns.my_pid))
        async with nested.open_stream_from(fns.spawn_sleepers, n=1) as stream:
            pids.extend(await anext(stream))  # the grandchild is up
            print(f"PIDS {' '.join(map(str, [os.getpid(), *pids]))}\n", end="", flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
