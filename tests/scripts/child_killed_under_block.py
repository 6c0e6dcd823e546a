"""A debug root whose block waits while its child runs; the child is killed
(SIGKILL from outside: the OOM killer, an operator): the root's crash is an
ActorExited raised inside devx as the block unwinds, and its REPL stops at the
user's code waiting in the block. Prints ``VICTIM <pid>`` once the child is up
(with ``two``: two children, ``VICTIM <pid> <pid>``)."""

import os
import sys

import trio

import devx


def pid() -> int:
    return os.getpid()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        names = ["victim1", "victim2"] if sys.argv[1:] == ["two"] else ["victim"]
        pids = []
        for name in names:
            victim = await an.start_actor(name, enable_modules=[__name__])
            pids.append(await victim.run(pid))
        print("VICTIM", *pids, flush=True)
        await trio.sleep_forever()  # the service's work


if __name__ == "__main__":
    trio.run(main)
