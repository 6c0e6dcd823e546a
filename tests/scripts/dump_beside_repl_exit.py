"""A child at its REPL; a sibling whose devx line (a stack dump taken while that REPL
was live) is held back returns and exits meanwhile: the line must be written once the
REPL is over, never under its prompt, and not lost.

argv[1]: a directory. The sibling writes its pid to ``quitter.pid`` there and returns
once ``go`` exists (the test says when)."""

import os
import sys

import trio

import devx


async def sitter() -> int:
    await devx.pause()
    return 1


async def quitter(d: str) -> int:
    tmp = os.path.join(d, "quitter.pid.tmp")
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, os.path.join(d, "quitter.pid"))
    while not os.path.exists(os.path.join(d, "go")):
        await trio.sleep(0.02)
    return 2


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        q = await an.run_in_actor(quitter, name="quitter", d=sys.argv[1])
        s = await an.run_in_actor(sitter, name="sitter")
        first = await q.result()
        await q.cancel_actor()  # its process ends now, under the sitter's REPL
        print(f"returned {[first, await s.result()]}", flush=True)


if __name__ == "__main__":
    trio.run(main)
