"""A plain threading.Thread inside a child actor pauses: the lock is taken over IPC
from that thread and the banner names it."""

import threading

import trio

import devx


def thread_body(results: list[int]) -> None:
    value = 7
    devx.pause_from_sync()
    results.append(value * 6)


async def spawn_thread() -> int:
    results: list[int] = []
    t = threading.Thread(target=thread_body, args=(results,), name="bg-worker", daemon=True)
    t.start()
    while t.is_alive():  # the child's loop stays free while the thread is in its REPL
        await trio.sleep(0.01)
    return results[0]


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(spawn_thread, name="threader")
        print(f"child returned {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
