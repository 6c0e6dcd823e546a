"""``dump_tree_imports.py METHOD``: a tree with stack dumps and debug mode on, spawned
with METHOD, two children; prints the root's and the children's pids as JSON
(tests/test_lazy_imports.py reads which process imported what from its probe log)."""

from __future__ import annotations

import json
import os
import sys

import trio

import devx


async def pid() -> int:
    return os.getpid()


async def main(method: str) -> None:
    async with devx.open_nursery(
        spawn_method=method, telemetry="off", enable_stack_on_sig=True, debug_mode=True
    ) as an:
        kids = [await an.start_actor(f"k{i}", enable_modules=[__name__]) for i in range(2)]
        pids = [await portal.run(pid) for portal in kids]
        await an.cancel()
    print(json.dumps({"root": os.getpid(), "children": pids}), flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
