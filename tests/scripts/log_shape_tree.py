"""A root and a child each log one devx warning (tests/telemetry/test_tel_logs.py
compares the JSON line shapes with telemetry on and off)."""

from __future__ import annotations

import logging

import trio

import devx


def say() -> None:
    logging.getLogger("devx.user").warning("hello from %s", devx.current_actor().path)


async def main() -> None:
    async with devx.open_nursery(name="logroot") as an:
        say()
        portal = await an.start_actor("kid", enable_modules=[__name__])
        await portal.run(say)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
