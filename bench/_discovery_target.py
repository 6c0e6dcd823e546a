"""Another tree for bench_discovery.py: registers with the registrar at argv[1] and
starts an actor named "svc" (the shared secret comes in DEVX_TREE_SECRET)."""

from __future__ import annotations

import sys

import trio

import devx


async def main(addr: str) -> None:
    host, _, port = addr.rpartition(":")
    async with devx.open_nursery(name="other", registry_addrs=[(host, int(port))]) as an:
        await an.start_actor("svc", enable_modules=["bench_discovery"])
        print("READY", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main, sys.argv[1])
    except KeyboardInterrupt:
        pass
