"""A root with three children (one of them with a grandchild), no REPL anywhere;
prints ``PIDS root a b c gc`` once all are up, then waits for ctrl-c.

    python storm_tree.py
"""

import os
import sys

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def main() -> None:
    async with devx.open_nursery() as an:
        pids = []
        for name in ("a", "b"):
            portal = await an.start_actor(name, enable_modules=["fns"])
            pids.append(await portal.run(fns.my_pid))
        nested = await an.start_actor("c", enable_modules=["fns"])
        pids.append(await nested.run(fns.my_pid))
        async with nested.open_stream_from(fns.spawn_sleepers, n=1) as stream:
            pids.extend(await anext(stream))
            print("PIDS", " ".join(map(str, [os.getpid(), *pids])), flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
