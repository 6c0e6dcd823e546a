"""Without greenback, a sync pause on a trio task is a clear error, never a hang."""

import trio

import devx


def sync_helper() -> None:
    devx.pause_from_sync()


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        try:
            sync_helper()
        except RuntimeError as err:
            print(f"error: {err}", flush=True)


if __name__ == "__main__":
    trio.run(main)
