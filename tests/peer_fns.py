"""Functions the peer-compatibility tests run in child actors (an importable module),
written the way programs for the peer runtime (tractor) write them."""

from __future__ import annotations

from pathlib import Path

import trio


async def assert_err(delay: float = 0) -> None:
    """The peer's own test helper: fail with a bare ``assert 0``."""
    if delay:
        await trio.sleep(delay)
    assert 0


async def assert_err_once(go: str) -> None:
    """Fail once the file ``go`` exists (the test says when)."""
    while not Path(go).exists():
        await trio.sleep(0.005)
    assert 0, "after go"


async def do_nothing() -> None:
    pass


async def sleep_forever() -> None:
    await trio.sleep_forever()
