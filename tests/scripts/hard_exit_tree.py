"""A root whose child blocks its trio loop in sync code inside a context (the callee's
context span is open), for the teardown of a blocked child. Prints ``PIDS <child>
<grandchild or 0>`` once the child is about to block, waits for the file named by the
first argument (the test makes it once it sees the child blocked), then cancels the
tree and prints ``EXIT <the child's exit code>`` once the nursery is done.

    python hard_exit_tree.py TRIGGER [--grandchild | --nested]

``--grandchild``: the child starts a grandchild first (its hard exit kills it).
``--nested``: the blocked actor is a grandchild, under an idle child ``mid``
(``PIDS`` then names the blocked grandchild and mid, ``EXIT`` mid's code).
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


@devx.context
async def middle(ctx: devx.Context, grandchild: bool) -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("blocker", enable_modules=[__name__])
        async with portal.open_context(block_in_context, grandchild=False) as (_, pids):
            await ctx.started([pids[0], os.getpid()])
            await trio.sleep_forever()


async def main(trigger: str, how: str) -> None:
    async with devx.open_nursery() as an:
        nested = how == "--nested"
        portal = await an.start_actor("mid" if nested else "blocker", enable_modules=[__name__])
        record = portal._child
        fn = middle if nested else block_in_context
        try:
            async with portal.open_context(fn, grandchild=how == "--grandchild") as (_, pids):
                print(f"PIDS {pids[0]} {pids[1]}", flush=True)
                while not os.path.exists(trigger):
                    await trio.sleep(0.01)
                await an.cancel()
        except (devx.ChannelClosed, devx.ContextCancelled) as exc:  # its actor was cancelled
            print(f"CONTEXT {exc}", flush=True)
    print(f"EXIT {record.exit_code}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
