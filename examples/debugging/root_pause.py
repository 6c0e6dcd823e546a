"""Pause in the root actor: `(Pdb+)` at the line after `await devx.pause()`."""

import trio

import devx


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        x = 1
        await devx.pause()
        y = x + 1
        print(f"root resumed, y={y}", flush=True)


if __name__ == "__main__":
    trio.run(main)
