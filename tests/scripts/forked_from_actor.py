"""A debug-mode child actor that uses multiprocessing (``fork``, ``fork-pdb`` or
``spawn``, argv[1]):
its pool workers are processes of their own, no actors of the tree.

fork: the worker inherited the actor's devx state: its ``breakpoint()`` and
``devx.pause_from_sync()`` must say why no REPL opens instead of waiting on the
actor's trio loop, which the fork did not copy; fork-pdb: the same for
``pdb.set_trace()`` and ``pdb.post_mortem()``. spawn: the worker re-imports the
root's script by its path, as multiprocessing does for a script."""

import multiprocessing
import pdb
import sys

import trio

import devx


def in_worker(k: int) -> str:
    breakpoint()
    try:
        devx.pause_from_sync()
    except devx.NoRuntime as exc:
        return f"{k * 2} ({type(exc).__name__}: {exc})"
    return f"{k * 2}"


def in_worker_pdb(k: int) -> str:
    pdb.set_trace()
    try:
        k * 2 // 0
    except ZeroDivisionError:
        pdb.post_mortem()
    return f"{k * 2}"


def doubled(k: int) -> int:
    return k * 2


async def use_a_pool(method: str) -> str:
    fn = {"fork": in_worker, "fork-pdb": in_worker_pdb}.get(method, doubled)
    mp = multiprocessing.get_context(method.split("-")[0])

    def run() -> str:
        with mp.Pool(1) as pool:
            return str(pool.apply(fn, (21,)))

    return await trio.to_thread.run_sync(run)


async def main(method: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        print("worker returned", await portal.run(use_a_pool, method=method), flush=True)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
