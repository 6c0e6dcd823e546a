"""A child's task steps (`n`) over `await trio.to_thread.run_sync(...)` whose worker
thread pauses: the thread gets a REPL of its own (the step gives the terminal up),
then the step stops on the next line of the task, with a STEP banner."""

import trio

import devx


def in_thread(item: str) -> str:
    shout = item.upper()
    devx.pause_from_sync()
    return shout


async def work(item: str) -> str:
    await devx.pause()
    got = await trio.to_thread.run_sync(in_thread, item)
    done = got + "!"
    return done


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(work, name="stepper", item="spam")
        print(f"stepper returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
