"""Which of devx's modules and heavy dependencies a child actor imported, by kind of
child (tests/test_lazy_imports.py): ``child_modules.py METHOD`` starts one tree per
kind with the spawn method METHOD, asks its child, prints ``{kind: [module, ...]}``."""

from __future__ import annotations

import json
import sys
from typing import Any

import trio

import devx

HEAVY = ("devx", "stackscope", "greenback", "pdbp", "opentelemetry", "argparse")

# a tree per kind (a debug-mode child would make its siblings part of a debug tree)
KINDS: dict[str, dict[str, Any]] = {
    "plain": {"telemetry": "off"},
    "debug": {"telemetry": "off", "debug_mode": True},
    "stack": {"telemetry": "off", "enable_stack_on_sig": True},
}


def loaded() -> list[str]:
    """Run in the child: what it has imported by the time it serves a call."""
    return sorted(m for m in sys.modules if m.startswith(HEAVY))


async def main(method: str) -> None:
    out = {}
    for kind, options in KINDS.items():
        async with devx.open_nursery(spawn_method=method, **options) as an:
            portal = await an.start_actor(kind, enable_modules=[__name__])
            out[kind] = await portal.run(loaded)
            await an.cancel()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
