"""``run_daemon`` (the peer project's name): a root actor that only serves calls."""

from __future__ import annotations

import importlib
from typing import Any

import trio

from .ipc import Addr
from .root import open_root_actor


def run_daemon(
    enable_modules: list[str],
    name: str = "root",
    registry_addrs: list[tuple[str, int]] | list[Addr] | None = None,
    debug_mode: bool = False,
    **kwargs: Any,
) -> None:
    """Run a root actor serving ``enable_modules`` until it is cancelled (by a peer's
    ``portal.cancel_actor()``, SIGTERM or ctrl-c); ``kwargs`` go to
    :func:`devx.open_root_actor`. The modules are imported first, so that one that
    does not import fails here, not at the first call."""
    modules = list(enable_modules)
    for module in modules:
        importlib.import_module(module)

    async def main() -> None:
        async with open_root_actor(
            name,
            registry_addrs=registry_addrs,
            debug_mode=debug_mode,
            enable_modules=modules,
            **kwargs,
        ) as actor:
            await actor.cancel_called.wait()

    trio.run(main)
