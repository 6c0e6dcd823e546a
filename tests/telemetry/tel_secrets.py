"""A child crashes holding secrets; run as ``python tel_secrets.py connect|stuck``."""

from __future__ import annotations

import sys

import tel_secret_fns
import trio

import devx
from devx.core import hooks

hooks.register("devx.telemetry.hook:HOOK")


async def main(fn: str) -> None:
    async with devx.open_nursery(name="sroot") as an:
        child = await an.start_actor("worker", enable_modules=["tel_secret_fns"])
        try:
            await child.run(getattr(tel_secret_fns, fn))
        except devx.RemoteActorError as err:
            print(f"root: {err.info.type_name} from {err.info.src_path}", flush=True)
        await child.cancel_actor()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
