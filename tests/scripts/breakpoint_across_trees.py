"""Three debug trees one after the other in one process: the first pauses (a test
sets a breakpoint in ``later`` there and continues), the second crashes (its crash
REPL), the third runs ``later`` (the breakpoint stops it)."""

import trio

import devx


def later(z: int) -> int:
    z += 1
    return z


async def one() -> None:
    async with devx.open_root_actor(debug_mode=True):
        x = 1
        await devx.pause()
        print("one done", x)


async def two() -> None:
    async with devx.open_root_actor(debug_mode=True):
        y = 5
        raise ValueError(y)


async def three() -> None:
    async with devx.open_root_actor(debug_mode=True):
        print("three got", later(41))


if __name__ == "__main__":
    trio.run(one)
    try:
        trio.run(two)
    except ValueError:
        print("two raised")
    trio.run(three)
