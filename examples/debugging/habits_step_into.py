"""Everyday stepping in a child's REPL, as in a single-process pdb: `s` into a sync
helper and into an async one, `r` back out, `until` past a loop, `w` showing only
the user's frames, `display`, `j`.

    python examples/debugging/habits_step_into.py
"""

import trio

import devx


def double(x: int) -> int:
    y = x * 2
    return y


async def add_one(x: int) -> int:
    await trio.sleep(0)
    z = x + 1
    return z


async def work() -> int:
    await devx.pause()
    a = double(3)
    b = await add_one(a)
    total = 0
    for i in range(3):
        total += i
    after_loop = total + a + b
    return after_loop


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(work, name="stepper")
        print(f"work returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
