"""A tree for the discovery tests: a root that registers with a registrar (its
address on argv, the shared secret in DEVX_TREE_SECRET), starts the named actors,
optionally finds one by name and calls it, prints READY and serves until ctrl-c or
a signal."""

from __future__ import annotations

import argparse
import json
import os
import sys

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import devx
import discovery_fns


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main(args: argparse.Namespace) -> None:
    listen: tuple[str, int] | str | None = None
    if args.listen:
        listen = _addr(args.listen) if ":" in args.listen else args.listen
    async with devx.open_nursery(
        name=args.name,
        registry_addrs=[_addr(args.registry)],
        listen_addr=listen,
        enable_modules=["discovery_fns"],
        debug_mode=args.debug,
    ) as an:
        for name in args.start:
            await an.start_actor(name, enable_modules=["discovery_fns"])
        for name in args.call:
            async with devx.wait_for_actor(name) as portal:
                got = await portal.run(discovery_fns.where)
            print(f"CALLED {json.dumps(got)}\n", end="", flush=True)
        ready = json.dumps({"registrar": devx.current_actor().is_registrar})
        print(f"READY {ready}\n", end="", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="root")
    parser.add_argument("--registry", required=True)
    parser.add_argument("--listen")
    parser.add_argument("--start", action="append", default=[])
    parser.add_argument("--call", action="append", default=[])
    parser.add_argument("--debug", action="store_true")
    try:
        trio.run(main, parser.parse_args())
    except KeyboardInterrupt:
        pass
