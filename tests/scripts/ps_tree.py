"""A tree for the `devx ps` tests: a root named after --name with --children actors,
in debug mode and with stack dumps only when asked; prints READY <root pid> and runs
until a signal ends it."""

from __future__ import annotations

import argparse

import trio

import devx


async def main(args: argparse.Namespace) -> None:
    async with devx.open_nursery(
        name=args.name, debug_mode=args.debug, enable_stack_on_sig=args.dumps
    ) as an:
        for i in range(args.children):
            await an.start_actor(f"c{i}")
        print(f"READY {devx.current_actor().pid}\n", end="", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--dumps", action="store_true")
    trio.run(main, parser.parse_args())
