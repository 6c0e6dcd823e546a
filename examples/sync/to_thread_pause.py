"""A trio.to_thread worker pauses: the REPL runs in the worker thread while the
root's loop goes on (its ticker task keeps counting)."""

import trio

import devx

ticks = 0


def blocking_work(item: str) -> str:
    result = item.upper()
    devx.pause_from_sync()
    return result


async def ticker() -> None:
    global ticks
    while True:
        ticks += 1
        await trio.sleep(0.01)


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True), trio.open_nursery() as tn:
        tn.start_soon(ticker)
        result = await trio.to_thread.run_sync(blocking_work, "spam")
        print(f"worker returned {result}", flush=True)
        tn.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
