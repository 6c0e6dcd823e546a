"""Cancel an actor while it is starting a child of its own: that is a cancellation,
not a crash. The call in flight ends quietly with None (a cancel this actor asked
for is not raised back to it: no ContextCancelled, no boxed group of Cancelled) and
no crash REPL opens anywhere.

    python examples/debugging/habits_cancel_spawn.py
"""

import os
import tempfile

import trio

import devx


async def spawn_a_slow_child() -> None:
    async with devx.open_nursery() as an:
        await an.start_actor("slow", enable_modules=["_slow_boot"])


async def main() -> None:
    marker = os.path.join(tempfile.mkdtemp(prefix="devx-slow-boot-"), "booting")
    os.environ["DEVX_SLOW_BOOT_MARKER"] = marker
    async with devx.open_nursery(debug_mode=True) as an:
        mid = await an.start_actor("mid", enable_modules=[__name__])
        outcome: list[object] = []

        async def call() -> None:
            try:
                outcome.append(await mid.run(spawn_a_slow_child))
            except BaseException as exc:
                outcome.append(exc)

        async with trio.open_nursery() as tn:
            tn.start_soon(call)
            with trio.fail_after(60):
                while not os.path.exists(marker):  # the grandchild is booting
                    await trio.sleep(0.02)
            print("root: root/mid is starting a child; cancelling root/mid", flush=True)
            await mid.cancel_actor()
        print(f"root: the call ended with {outcome[0]!r}", flush=True)


if __name__ == "__main__":
    trio.run(main)
