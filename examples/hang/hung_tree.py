"""A deliberately hung actor tree to practise hang-hunting on.

    root ─┬─ sleeper                a task parked in trio.sleep_forever()
          ├─ blocker                a task blocking its trio loop in a sync time.sleep()
          └─ spawner ── grandchild  a nested actor nursery; the grandchild sleeps forever

Run it, then from another shell dump every actor's task tree and threads:

    python examples/hang/hung_tree.py          # --debug: the same in debug mode
    devx dump hung_tree            # or: kill -USR1 <root pid>; see /tmp/devx-stackscope-*.log

``blocker`` cannot walk its trio tree (its loop is stuck), so its dump falls back to
every thread's stack, which shows the ``time.sleep`` line. Each actor prints
``HUNG <tree path> <pid> <how>`` just before it hangs. Stop it with ctrl-c (or kill its
process group): the tree ends in about DEVX_CANCEL_GRACE + 1 s, ``blocker`` last, which
cannot read the cancel: SIGTERMed after the grace, it ends itself a second later saying
so, its spans (outcome ``hard_exit``) in the telemetry file.
"""

from __future__ import annotations

import os
import sys
import time

import trio

import devx


def announce(how: str) -> None:
    actor = devx.current_actor()
    # one write per line: the whole tree shares this stdout
    sys.stdout.write(f"HUNG {actor.path} {os.getpid()} {how}\n")
    sys.stdout.flush()


async def park_in_sleep_forever() -> None:
    announce("sleep_forever")
    await trio.sleep_forever()


async def block_the_loop() -> None:
    announce("time.sleep")
    time.sleep(3600)  # a sync call in async code: this actor's trio loop is stuck


async def spawn_grandchild() -> None:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=[__name__])
        await portal.run(park_in_sleep_forever)


async def main() -> None:
    debug = "--debug" in sys.argv[1:]
    async with devx.open_nursery(
        name="hung_tree", enable_stack_on_sig=True, debug_mode=debug
    ) as an:
        sleeper = await an.start_actor("sleeper", enable_modules=[__name__])
        spawner = await an.start_actor("spawner", enable_modules=[__name__])
        async with trio.open_nursery() as tasks:
            tasks.start_soon(sleeper.run, park_in_sleep_forever)
            tasks.start_soon(spawner.run, spawn_grandchild)
            # a one-shot child: its result is collected when the actor nursery exits
            await an.run_in_actor(block_the_loop, name="blocker")
            announce("waiting on its children")


if __name__ == "__main__":
    trio.run(main)
