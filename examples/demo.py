"""The devx demo: a small actor tree doing real work, and a remote error boxed.

    make demo

Spawns two workers (one of which spawns a helper of its own), calls them, then lets
one of them fail so you can see how a remote error arrives: its type, message, the
actor it came from and its traceback.
"""

from __future__ import annotations

import os

import trio

import devx


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


async def where_am_i() -> str:
    actor = devx.current_actor()
    return f"{actor.path} (pid {os.getpid()}, parent {actor.parent_uid})"


async def delegate(n: int) -> list[str]:
    """Runs in 'worker-b': spawn a helper of our own and ask it too."""
    async with devx.open_nursery() as an:
        helper = await an.start_actor("helper", enable_modules=[__name__])
        return [await where_am_i(), await helper.run(where_am_i), str(await helper.run(fib, n=n))]


async def divide(a: float, b: float) -> float:
    return a / b


async def main() -> None:
    async with devx.open_nursery(name="demo") as an:
        a = await an.start_actor("worker-a", enable_modules=[__name__])
        b = await an.start_actor("worker-b", enable_modules=[__name__])
        print("root:    ", await where_am_i())
        print("worker-a:", await a.run(where_am_i))
        print("fib(80) computed in worker-a:", await a.run(fib, n=80))
        for line in await b.run(delegate, n=30):
            print("worker-b tree:", line)
        print("\nnow worker-a divides by zero...\n")
        try:
            await a.run(divide, a=1, b=0)
        except devx.RemoteActorError as err:
            print(f"caught {type(err).__name__} (boxed {err.boxed_type.__name__}):")
            print(err)
        print("\nworker-a still serves calls afterwards:", await a.run(fib, n=10))
    print("\nthe tree exited; no process is left behind.")


if __name__ == "__main__":
    trio.run(main)
