"""find_actor of an actor whose loop is blocked (as a REPL at its prompt blocks it;
here sync code, so no terminal is needed): the registrar has it, so the lookup
waits for its hello, says so once, and yields its portal, not ``None``.

    python find_blocked.py DIR   # the child blocks until DIR/go exists (touch it)
"""

import os
import sys
import time
from functools import partial

import trio

import devx


def block(flag_dir: str) -> str:
    open(os.path.join(flag_dir, "blocked"), "w").close()
    while not os.path.exists(os.path.join(flag_dir, "go")):
        time.sleep(0.05)  # this actor's loop does nothing meanwhile
    return "unblocked"


def path() -> str:
    return devx.current_actor().path


async def main(flag_dir: str) -> None:
    async with devx.open_nursery() as an:
        svc = await an.start_actor("svc", enable_modules=[__name__])
        async with trio.open_nursery() as tn:
            tn.start_soon(partial(svc.run, block, flag_dir=flag_dir))
            while not os.path.exists(os.path.join(flag_dir, "blocked")):
                await trio.sleep(0.02)
            async with devx.find_actor("svc") as portal:
                if portal is None:  # (the child would block for good)
                    open(os.path.join(flag_dir, "go"), "w").close()
                found = None if portal is None else await portal.run(path)
            print(f"found: {found}", flush=True)
        await an.cancel()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
