"""A child crashes: its REPL first (at the raising frame), then the root's on the
boxed RemoteActorError, one after the other."""

import trio

import devx


async def divide(a: int, b: int) -> float:
    ratio = a / b
    return ratio


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(divide, name="divider", a=1, b=0)


if __name__ == "__main__":
    trio.run(main)
