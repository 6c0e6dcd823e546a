"""A script whose devx tree hangs: ``hung_script/child`` parks in ``wait_in_script``."""

from __future__ import annotations

import trio
from test_hung import announce

import devx


async def wait_in_script() -> None:
    announce()
    await trio.sleep_forever()


async def main() -> None:
    async with devx.open_nursery(name="hung_script") as an:
        child = await an.start_actor("child", enable_modules=[__name__])
        await child.run(wait_in_script)


if __name__ == "__main__":
    trio.run(main)
