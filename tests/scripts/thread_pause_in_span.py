"""The root pauses from a worker thread inside a span of the user's own: the lock's
records (requested, granted, released) belong to that span, as the rest of the
user's work there does (tests/test_sync_pause.py)."""

import trio

import devx
from devx.core import events


def work() -> None:
    devx.pause_from_sync()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True):
        with events.span("user.work"):
            await trio.to_thread.run_sync(work)
    print("root: done", flush=True)


if __name__ == "__main__":
    trio.run(main)
