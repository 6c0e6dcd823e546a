"""A child whose code uses structlog logs in its first call, at once, then at info
and debug once devx configured structlog (tests/telemetry/test_tel_logs.py: none of
them is dropped, the first one is a JSON line with the trace ids too). `debug`: the
tree runs in debug mode, where a child imports its modules after its telemetry started."""

from __future__ import annotations

import sys

import structlog
import trio

import devx


def log_at_once() -> bool:
    structlog.get_logger().info("first call", order=41)
    return structlog.is_configured()


async def log_when_configured() -> bool:
    with trio.move_on_after(20):
        while not structlog.is_configured():  # devx configures it once telemetry is up
            await trio.sleep(0.01)
    structlog.get_logger().info("user info", order=42)
    structlog.get_logger().debug("user debug", order=43)
    return structlog.is_configured()


async def main() -> None:
    async with devx.open_nursery(name="slroot", debug_mode="debug" in sys.argv[1:]) as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        print("AT ONCE", await portal.run(log_at_once), flush=True)
        print("CONFIGURED", await portal.run(log_when_configured), flush=True)
        await an.cancel()


if __name__ == "__main__":
    trio.run(main)
