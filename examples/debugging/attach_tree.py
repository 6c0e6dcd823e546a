"""A tree that runs without a terminal and waits for `devx attach` (attach mode): two
children pause (`1 crash`: one child crashes); each REPL waits, in order, until a
client attaches.

    setsid python examples/debugging/attach_tree.py </dev/null >tree.log 2>&1 &
    devx ps                     # the tree, its REPL waiting for `devx attach`
    devx attach                 # then `p x`, `n`, `c` ...
"""

import sys

import trio

import devx


async def work(k: int) -> int:
    x = 40 + k
    await devx.pause()
    x += 1
    return x


async def boom(k: int) -> int:
    x = 40 + k
    return x // 0


async def main(n: int, fn: str) -> None:
    func = {"pause": work, "crash": boom}[fn]
    async with devx.open_nursery(debug_mode=True, attach=True) as an:
        portals = [await an.run_in_actor(func, name=f"w{k}", k=k) for k in range(n)]
        results = [await p.result() for p in portals]
    print(f"results {results}", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 2, (sys.argv[2:3] or ["pause"])[0])
