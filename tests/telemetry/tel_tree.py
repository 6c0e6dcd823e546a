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


if __name__ == "__main__":
    trio.run({"tree": tree, "crash": crash, "sigkill": sigkill}[sys.argv[1]])
