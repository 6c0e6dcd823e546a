"""A tree that runs without a terminal and waits for `devx attach` (attach mode): N
children stop; each REPL waits, in order, until a client attaches.

    setsid python examples/debugging/attach_tree.py [N] [MODE] </dev/null >tree.log 2>&1 &
    devx ps                     # the tree, its REPL waiting for `devx attach`
    devx attach                 # then `p x`, `n`, `waiters`, `switch 2`, `c` ...

MODE `pause` (default): each child pauses; `crash`: each child crashes; `bp`: each
child pauses in one task, where you set `b hit_me` and `c`, and another task of it
then hits that breakpoint twice (`bp-thread`: a thread of it does); `thread`: each
child's plain thread calls `pause_from_sync()`.
"""

import sys
import threading

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


def hit_me(k: int) -> int:
    doubled = k * 2
    return doubled


async def breakpoints(k: int, thread: bool = False) -> int:
    armed = trio.Event()
    got: list[int] = []

    async def setter() -> None:
        x = 40 + k
        await devx.pause()  # set `b hit_me` here, then `c`
        armed.set()
        assert x

    def hit_twice() -> None:
        got.extend(hit_me(j) for j in (1, 2))

    async def hitter() -> None:  # another task (or thread): its stops go through the door
        await armed.wait()
        if thread:
            t = threading.Thread(target=hit_twice, name="hitter")
            t.start()
            await trio.to_thread.run_sync(t.join)
        else:
            hit_twice()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(setter)
        nursery.start_soon(hitter)
    return sum(got)


async def breakpoints_thread(k: int) -> int:
    return await breakpoints(k, thread=True)


def in_thread(k: int, out: list[int]) -> None:
    x = 40 + k
    devx.pause_from_sync()
    x += 1
    out.append(x)


async def thread_pause(k: int) -> int:
    out: list[int] = []
    t = threading.Thread(target=in_thread, args=(k, out), name=f"worker-{k}")
    t.start()
    await trio.to_thread.run_sync(t.join)
    return out[0]


FUNCS = {
    "pause": work,
    "crash": boom,
    "bp": breakpoints,
    "bp-thread": breakpoints_thread,
    "thread": thread_pause,
}


async def main(n: int, fn: str) -> None:
    func = FUNCS[fn]
    async with devx.open_nursery(debug_mode=True, attach=True) as an:
        portals = [await an.run_in_actor(func, name=f"w{k}", k=k) for k in range(n)]
        results = [await p.result() for p in portals]
    print(f"results {results}", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 2, (sys.argv[2:3] or ["pause"])[0])
