"""devx.debug.frames reads trace events the same way on every supported Python: a
coroutine suspending at an ``await`` is not a return (3.13 reports it one bytecode
later than 3.11/3.12, on the RESUME), a coroutine finishing is."""

from __future__ import annotations

import sys
import types
from collections.abc import Generator
from types import FrameType
from typing import Any

import trio

from devx.debug.frames import really_returns


@types.coroutine
def _suspend() -> Generator[str, None, None]:
    yield "suspended"


async def _inner() -> int:
    await _suspend()
    return 5


async def _outer() -> int:
    return await _inner() + 1


def _return_events(drive: Any) -> list[tuple[str, bool]]:
    """(function, really_returns) at each ``return`` event of _inner/_outer."""
    seen: list[tuple[str, bool]] = []

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return" and frame.f_code.co_name in ("_inner", "_outer"):
            seen.append((frame.f_code.co_name, really_returns(frame)))
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        drive()
    finally:
        sys.settrace(old)
    return seen


def test_a_suspension_is_not_a_return() -> None:
    coro = _outer()

    def drive() -> None:
        assert coro.send(None) == "suspended"
        try:
            coro.send(None)
        except StopIteration as stop:
            assert stop.value == 6
        else:
            raise AssertionError("the coroutine did not finish")

    assert _return_events(drive) == [
        ("_inner", False),  # suspended at the await
        ("_outer", False),
        ("_inner", True),  # finished
        ("_outer", True),
    ]


def test_a_trio_checkpoint_is_a_suspension() -> None:
    """Under trio: ``await trio.sleep(0)`` suspends the task, then it returns."""
    events: list[tuple[str, bool]] = []

    async def _napper() -> int:
        await trio.sleep(0)
        return 1

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return" and frame.f_code.co_name == "_napper":
            events.append((frame.f_code.co_name, really_returns(frame)))
        return tracer

    async def main() -> int:
        old = sys.gettrace()
        sys.settrace(tracer)
        try:
            return await _napper()
        finally:
            sys.settrace(old)

    assert trio.run(main) == 1
    assert events == [("_napper", False), ("_napper", True)]
