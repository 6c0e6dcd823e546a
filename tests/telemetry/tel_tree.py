"""Telemetry scenarios over a real actor tree; run as ``python tel_tree.py <scenario>``.

The telemetry hook is registered here (the runtime may also register it by default).
"""

from __future__ import annotations

import sys

import tel_fns
import trio

import devx
from devx.runtime import hooks

hooks.register("devx.telemetry.boot:actor_lifetime")


async def tree() -> None:
    async with devx.open_nursery(name="troot") as an:
        child = await an.start_actor("child", enable_modules=["tel_fns"])
        assert await child.run(tel_fns.mid, x=21) == 42
        assert await child.run(tel_fns.lock_holds, n=3) == 3
        await child.cancel_actor()


async def crash() -> None:
    async with devx.open_nursery(name="croot") as an:
        child = await an.start_actor("child", enable_modules=["tel_fns"])
        await child.run(tel_fns.boom)


async def sigkill() -> None:
    async with devx.open_nursery(name="kroot") as an:
        child = await an.start_actor("victim", enable_modules=["tel_fns"])
        try:
            await child.run(tel_fns.dump_then_die)
        except Exception as exc:  # the runtime reports the dead child
            print("child died:", type(exc).__name__)


async def sigterm() -> None:
    """SIGTERM to a child (what its parent escalates to): it still flushes on the way out."""
    import os
    import signal

    async with devx.open_nursery(name="troot") as an:
        child = await an.start_actor("termed", enable_modules=["tel_fns"])
        async with trio.open_nursery() as n:
            n.start_soon(child.run, tel_fns.span_then_wait)
            await trio.sleep(0.5)
            os.kill(child.channel.peer_pid, signal.SIGTERM)
            with trio.move_on_after(10):
                await child._child.exited.wait()
            n.cancel_scope.cancel()


if __name__ == "__main__":
    scenarios = {"tree": tree, "crash": crash, "sigkill": sigkill, "sigterm": sigterm}
    trio.run(scenarios[sys.argv[1]])
