"""Sync code on a root task pauses through the task's greenback portal."""

import trio

import devx


def sync_helper(x: int) -> int:
    devx.pause_from_sync()
    y = x * 2
    return y


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        print(f"root got {sync_helper(21)}", flush=True)


if __name__ == "__main__":
    trio.run(main)
