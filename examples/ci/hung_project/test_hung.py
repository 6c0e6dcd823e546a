"""A small project whose tests hang devx trees, to see what the pytest plugin does:

    cd examples/ci/hung_project
    pytest --devx-hang-timeout=10

``test_tree_hangs`` hangs a three-level tree: ``hung/mid/leaf`` parks in
``trio.sleep_forever()`` inside ``park_forever_here``, ``hung/blocker`` blocks its trio
loop in ``time.sleep()`` inside ``block_the_loop_here``. ``test_tree_in_subprocess``
hangs a tree started by a script in a subprocess. ``test_passes`` passes: the session
goes on after a hang. Each actor writes ``<path> <pid>`` to $HUNG_DIR (when set) just
before it hangs, so a harness can tell when the tree is up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import trio

import devx


def announce() -> None:
    where = os.environ.get("HUNG_DIR")
    if where:
        actor = devx.current_actor()
        name = actor.path.replace("/", ".")
        with open(os.path.join(where, name), "w") as f:
            f.write(f"{actor.path} {os.getpid()}\n")


async def park_forever_here() -> None:
    announce()
    await trio.sleep_forever()


async def block_the_loop_here() -> None:
    announce()
    time.sleep(3600)  # a sync call in async code: this actor's loop is stuck


async def middle() -> None:
    async with devx.open_nursery() as an:
        leaf = await an.start_actor("leaf", enable_modules=[__name__])
        await leaf.run(park_forever_here)


def test_tree_hangs() -> None:
    async def main() -> None:
        async with devx.open_nursery(name="hung") as an:
            mid = await an.start_actor("mid", enable_modules=[__name__])
            blocker = await an.start_actor("blocker", enable_modules=[__name__])
            async with trio.open_nursery() as tasks:
                tasks.start_soon(mid.run, middle)
                tasks.start_soon(blocker.run, block_the_loop_here)

    trio.run(main)


def test_tree_in_subprocess() -> None:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hung_script.py")
    subprocess.run([sys.executable, script], check=True)


def test_passes() -> None:
    assert sum(range(4)) == 6
