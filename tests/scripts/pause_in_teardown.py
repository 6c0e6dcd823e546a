"""A forked child opens a REPL in its teardown (a pause in a finally:, as a user
debugging a cleanup does) after the root's nursery block was left: the root waits
for it, and nothing kills it while the person reads (test_forkserver)."""

import trio

import devx

RUNNING = trio.Event()


async def worker() -> None:
    try:
        RUNNING.set()
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            cleanup = "closing connections"
            await devx.pause()  # the user looks at the cleanup
            print(f"worker: cleanup done ({cleanup})", flush=True)


async def wait_running() -> None:
    await RUNNING.wait()


async def call_worker(portal: devx.Portal) -> None:
    try:
        await portal.run(worker)
    except Exception as exc:  # the actor's cancel ends the call: said, not hidden
        print(f"root: the call ended with {type(exc).__name__}", flush=True)


async def main() -> None:
    async with trio.open_nursery() as tn:
        async with devx.open_nursery(debug_mode=True) as an:
            portal = await an.start_actor("worker", enable_modules=[__name__])
            tn.start_soon(call_worker, portal)
            await portal.run(wait_running)
            print("root: leaving the nursery block", flush=True)
        print("root: the worker is gone", flush=True)
    print("tree done", flush=True)


if __name__ == "__main__":
    trio.run(main)
