"""A root that ignores SIGALRM (before its fork server starts) runs a tree per spawn
method given on argv; its child ``mid`` changes its process group and signal
dispositions, then spawns ``leaf``. Prints one JSON line per method: what the
kernel says of ``leaf`` and ``mid``.

    python signals_pgrp_tree.py forkserver subprocess
"""

import json
import os
import signal
import sys

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fork_fns


async def tree(method: str) -> dict:
    async with devx.open_nursery(spawn_method=method) as an:
        mid = await an.start_actor("mid", enable_modules=["fork_fns"])
        report = await mid.run(fork_fns.child_after_changes)
        report["mid"] = fork_fns.kernel_view(report["me"])
        return report


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    for method in sys.argv[1:]:
        print(method, json.dumps(trio.run(tree, method)), flush=True)
