"""The root stops first; two children pause while its REPL is on screen (its loop
blocked), once the file GO exists (the test creates it at the root's prompt).

    python root_repl_children_queue.py GO [--cancelled]

``--cancelled``: the root's pause is in a cancelled scope (``shield=True``), as one is
when a deadline around the code being debugged passes while the user reads the REPL.
"""

import os
import sys

import trio

import devx


async def child(k: int, go: str) -> int:
    while not os.path.exists(go):
        await trio.sleep(0.02)
    mine = k
    await devx.pause()
    return mine


async def main() -> None:
    go = sys.argv[1]
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [await an.run_in_actor(child, name=f"c{k}", k=k, go=go) for k in range(2)]
        with trio.CancelScope() as scope:
            if "--cancelled" in sys.argv[2:]:
                scope.cancel()
            rootvar = 42
            await devx.pause(shield=scope.cancel_called)
        print(f"results {rootvar} {[await p.result() for p in portals]}", flush=True)


if __name__ == "__main__":
    trio.run(main)
