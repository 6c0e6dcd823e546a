"""Where a sync pause on a trio task truly cannot take the TTY lock: a task spawned
into a nursery opened *before* the runtime has no greenback portal (devx gives one
to the tasks under the runtime only, from their start). A clear error naming the
task and the remedy, never a hang."""

import trio

import devx


def sync_helper() -> None:
    devx.pause_from_sync()


async def early_task(runtime_up: trio.Event, done: trio.Event) -> None:
    await runtime_up.wait()
    try:
        sync_helper()
    except RuntimeError as err:
        print(f"error: {err}", flush=True)
    done.set()


async def main() -> None:
    runtime_up, done = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:  # older than the runtime
        nursery.start_soon(early_task, runtime_up, done, name="early_task")
        async with devx.open_root_actor(debug_mode=True):
            runtime_up.set()
            await done.wait()


if __name__ == "__main__":
    trio.run(main)
