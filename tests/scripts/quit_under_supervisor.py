"""`q` at a worker's REPL where the worker's caller supervises it: it catches
``devx.RemoteActorError`` (a failed worker: say so, go on or restart). The quit
is no worker failure: it ends the tree with the quit's line, in both shapes.

    python quit_under_supervisor.py run   # the root catches around portal.run
    python quit_under_supervisor.py ctx   # a sibling catches around open_context
"""

import atexit
import sys

import trio
from _terminal_state import print_terminal_state

import devx


async def work() -> int:
    await devx.pause()
    return 1


@devx.context
async def serve(ctx: devx.Context) -> None:
    await ctx.started()
    await devx.pause()


async def feed() -> str:
    async with devx.wait_for_actor("worker") as portal:
        for _ in range(2):
            try:
                async with portal.open_context(serve) as (ctx, _):
                    await ctx.wait_for_result()
            except devx.RemoteActorError as err:  # a failed worker: go on
                print(f"feeder: worker failed: {err.boxed_type_name}", flush=True)
    return "the feeder went on"


async def main(mode: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        worker = await an.start_actor("worker", enable_modules=[__name__])
        if mode == "run":
            for _ in range(2):
                try:
                    print("result", await worker.run(work), flush=True)
                except devx.RemoteActorError as err:  # a failed worker: go on
                    print(f"supervisor: worker failed: {err.boxed_type_name}", flush=True)
        else:
            feeder = await an.start_actor("feeder", enable_modules=[__name__])
            print(await feeder.run(feed), flush=True)
        print("supervisor went on", flush=True)
        await an.cancel()


if __name__ == "__main__":
    atexit.register(print_terminal_state)
    trio.run(main, sys.argv[1])
