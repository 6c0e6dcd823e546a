"""A grandchild crashes through two nurseries: REPLs in the grandchild, the child,
then the root, walking the failure up the tree."""

import trio

import devx


async def leaf_fails() -> None:
    name = devx.current_actor().name
    raise ValueError(f"{name} failed on purpose")


async def middle() -> None:
    async with devx.open_nursery() as an:
        await an.run_in_actor(leaf_fails, name="leaf")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(middle, name="middle")


if __name__ == "__main__":
    trio.run(main)
