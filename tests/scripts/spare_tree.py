"""A subprocess tree that spawns nothing yet: ``open_nursery`` started its spare (the
first actor's process, importing while the root sets up). Prints the root's pid,
then waits for ctrl-c (or a kill).

    python spare_tree.py
"""

import os

import trio

import devx


async def main() -> None:
    async with devx.open_nursery(spawn_method="subprocess"):
        print(f"PIDS {os.getpid()}", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main)
