"""A debug root whose block waits while its child runs; the child is killed
(SIGKILL from outside: the OOM killer, an operator): the root's crash is an
ActorExited raised inside devx as the block unwinds, and its REPL stops at the
user's code waiting in the block. Prints ``VICTIM <pid>`` once the child is up."""

import os

import trio

import devx


def pid() -> int:
    return os.getpid()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        victim = await an.start_actor("victim", enable_modules=[__name__])
        print("VICTIM", await victim.run(pid), flush=True)
        await trio.sleep_forever()  # the service's work


if __name__ == "__main__":
    trio.run(main)
