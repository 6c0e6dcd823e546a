"""Telemetry scenarios over a real actor tree; run as ``python tel_tree.py <scenario>``.

The telemetry hook is registered here (the runtime may also register it by default).
"""

from __future__ import annotations

import os
import signal
import sys

import tel_fns
import trio

import devx
from devx.core import hooks

hooks.register("devx.telemetry.hook:HOOK")


async def tree() -> None:
    async with devx.open_nursery(name="troot") as an:
        child = await an.start_actor("child", enable_modules=["tel_fns"])
        assert await child.run(tel_fns.mid, x=21) == 42
        await child.cancel_actor()
    print("root: tree done", flush=True)


async def early() -> None:
    """A child records right after its start and lives on: its record reaches the file
    while it lives, without a flush (its writer starts a little after its start)."""
    async with devx.open_nursery(name="eroot") as an:
        child = await an.start_actor("child", enable_modules=["tel_fns"])
        within = float(os.environ["TEL_WITHIN"])
        seen = await child.run(
            tel_fns.record_then_see_it_written,
            path=os.environ["DEVX_TELEMETRY_FILE"],
            within=within,
        )
        print(f"root: written while alive: {seen}", flush=True)


async def idle() -> None:
    """A root that never spawns and ends at once."""
    async with devx.open_nursery(name="iroot"):
        pass
    print("root: idle done", flush=True)


async def crash() -> None:
    async with devx.open_nursery(name="croot") as an:
        child = await an.start_actor("child", enable_modules=["tel_fns"])
        await child.run(tel_fns.boom)


async def sigkill() -> None:
    """The child SIGKILLs itself right after a stack-dump record."""
    try:
        async with devx.open_nursery(name="kroot", enable_stack_on_sig=True) as an:
            child = await an.start_actor("victim", enable_modules=["tel_fns"])
            await child.run(tel_fns.dump_then_die)
    except devx.ActorExited as err:  # the runtime reports the dead child
        print(f"root: {err}", flush=True)


async def sigterm() -> None:
    """SIGTERM to a child (what its parent escalates to): it still flushes on the way
    out. The signal is not the runtime's, so its exit (code 143) is reported: the
    block waits for that report rather than racing the child's exit to its end."""
    try:
        async with devx.open_nursery(name="troot") as an:
            child = await an.start_actor("termed", enable_modules=["tel_fns"])
            async with child.open_stream_from(tel_fns.span_then_wait) as stream:
                pid = await anext(stream)  # its span has ended
                os.kill(pid, signal.SIGTERM)
                try:
                    await anext(stream)
                except devx.ContextCancelled as err:
                    print(f"root: {err.info.message}", flush=True)
            await trio.sleep_forever()  # until the nursery reports the exit
    except devx.ActorExited as err:
        print(f"root: {err}", flush=True)
    print("root: tree done", flush=True)


if __name__ == "__main__":
    scenarios = {
        "tree": tree,
        "early": early,
        "idle": idle,
        "crash": crash,
        "sigkill": sigkill,
        "sigterm": sigterm,
    }
    trio.run(scenarios[sys.argv[1]])
