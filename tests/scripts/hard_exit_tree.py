"""A root whose child blocks its trio loop in sync code inside a context (the callee's
context span is open), for the teardown of a blocked child. Prints ``PIDS <child>
<grandchild or 0>`` once the child is about to block, waits for the file named by the
first argument (the test makes it once it sees the child blocked), then cancels the
tree and prints ``EXIT <the child's exit code>`` once the nursery is done.

    python hard_exit_tree.py TRIGGER [--grandchild]

``--grandchild``: the child starts a grandchild first (its hard exit kills it).
"""

import os
import sys
import time

import trio

import devx


def my_pid() -> int:
    return os.getpid()


@devx.context
async def block_in_context(ctx: devx.Context, grandchild: bool) -> None:
    async with devx.open_nursery() as an:
        leaf = 0
        if grandchild:
            portal = await an.start_actor("leaf", enable_modules=[__name__])
            leaf = await portal.run(my_pid)
        await ctx.started([os.getpid(), leaf])
        time.sleep(3600)  # a sync call in async code: this actor's loop is stuck


async def main(trigger: str, grandchild: bool) -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("blocker", enable_modules=[__name__])
        record = portal._child
        try:
            async with portal.open_context(block_in_context, grandchild=grandchild) as (_, pids):
                print(f"PIDS {pids[0]} {pids[1]}", flush=True)
                while not os.path.exists(trigger):
                    await trio.sleep(0.01)
                await an.cancel()
        except devx.ChannelClosed as exc:  # the context's actor was cancelled
            print(f"CONTEXT {exc}", flush=True)
    print(f"EXIT {record.exit_code}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], "--grandchild" in sys.argv[2:])
