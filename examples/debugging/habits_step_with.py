"""Stepping out of the user's own context manager goes back into the body of the
`with`/`async with` that entered it, as pdb does: `n`, `s` or `r` past the `yield`
of an `@asynccontextmanager` (or a `@contextmanager`) lands on the body's first
line, and the REPL goes on until the function that holds the `with` is done.

    python examples/debugging/habits_step_with.py [root|child] [async|sync]
"""

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import trio

import devx


@asynccontextmanager
async def opened(name: str) -> AsyncIterator[str]:
    await devx.pause()
    handle = f"<{name}>"
    yield handle
    print(f"closing {handle}", flush=True)


@contextmanager
def opened_sync(name: str) -> Iterator[str]:
    devx.pause_from_sync()
    handle = f"<{name}>"
    yield handle
    print(f"closing {handle}", flush=True)


async def use_async() -> str:
    async with opened("async") as handle:
        body = f"body saw {handle}"
        body += "!"
    after = body.upper()
    return after


async def use_sync() -> str:
    with opened_sync("sync") as handle:
        body = f"body saw {handle}"
        body += "!"
    after = body.upper()
    return after


async def main(where: str, kind: str) -> None:
    fn = use_async if kind == "async" else use_sync
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            result = await fn()
        else:
            portal = await an.run_in_actor(fn, name="withy")
            result = await portal.result()
        print(f"use returned {result}", flush=True)


if __name__ == "__main__":
    where = sys.argv[1] if len(sys.argv) > 1 else "child"
    kind = sys.argv[2] if len(sys.argv) > 2 else "async"
    trio.run(main, where, kind)
