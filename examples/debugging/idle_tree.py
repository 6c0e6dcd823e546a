"""A debug-mode tree with no REPL live: ctrl-c tears it all down as usual."""

import trio

import devx


async def idle() -> None:
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        for name in ("idle-a", "idle-b"):
            await an.run_in_actor(idle, name=name)
        print("tree is up; press ctrl-c", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
