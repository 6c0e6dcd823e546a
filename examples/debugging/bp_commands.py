"""A child pauses; set `b double`, give it `commands` (`p v`, `end`), then `c`: the
breakpoint, hit after the REPL gave the terminal up, takes its turn at the terminal
as any stop does (its banner, the lock), then runs its commands as the first lines
of its prompt. A command list that ends in `c` goes on after them, as in pdb.

    python examples/debugging/bp_commands.py
"""

import trio

import devx


def double(v: int) -> int:
    w = v * 2
    return w


async def work() -> int:
    await devx.pause()
    await trio.sleep(0)  # a checkpoint: after `c`, the REPL's release goes out here
    return sum(double(k) for k in range(3))


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(work, name="worker")
        print(f"child returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
