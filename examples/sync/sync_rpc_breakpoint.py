"""breakpoint() in a plain sync function called remotely (run_in_actor, then
portal.run): in debug mode each call runs in a task with a greenback portal, so the
REPL opens at the line, as in an async function."""

import trio

import devx


def compute(x: int) -> int:
    y = x + 1
    breakpoint()
    return y * 10


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        once = await an.run_in_actor(compute, name="once", x=1)
        print(f"once returned {await once.result()}", flush=True)
        worker = await an.start_actor("worker", enable_modules=[__name__])
        print(f"worker returned {await worker.run(compute, x=4)}", flush=True)
        await worker.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
