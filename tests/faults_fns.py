"""Functions the fault tests (issue 24) run in child actors (a module of their own)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator

import trio

import devx

BIG_ERROR = 50 * 1024 * 1024  # characters: over the 64 MiB frame once the traceback repeats it


class BadStr(Exception):
    """An exception whose ``__str__`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def raise_bad_str() -> None:
    raise BadStr()


async def raise_bad_str_async() -> None:
    await trio.sleep(0)  # a task of its own, not run inline
    raise BadStr()


def raise_huge() -> None:
    raise ValueError("x" * BIG_ERROR)


def my_pid() -> int:
    return os.getpid()


def kill_me() -> None:
    """SIGKILL this actor's own process (a death nobody asked for)."""
    os.kill(os.getpid(), signal.SIGKILL)


def busy_loop(marker: str, seconds: float = 3600.0) -> None:
    """Keep the loop busy in pure Python (signals are seen, trio never runs), once
    ``marker`` says so."""
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


_produced = 0


async def counted(n: int) -> AsyncIterator[int]:
    """Yield 0..n-1; :func:`produced` says how many were generated so far."""
    global _produced
    _produced = 0
    for i in range(n):
        _produced += 1
        yield i


def produced() -> int:
    return _produced


async def big_items(n: int, size: int) -> AsyncIterator[bytes]:
    block = b"x" * size
    for _ in range(n):
        yield block


async def spawn_and_ask_root() -> int:
    """Start a grandchild of the root that calls the root over a connection of its
    own (through the root's listener): the root's pid."""
    async with devx.open_nursery() as an:
        portal = await an.start_actor("leaf", enable_modules=[__name__])
        pid: int = await portal.run(ask_root)
        await an.cancel()
    return pid


async def ask_root() -> int:
    portal = await devx.current_actor().root_portal()
    pid: int = await portal.run(my_pid)
    return pid


async def sleep_forever_after_pid() -> None:
    await trio.sleep_forever()


def closed_channels() -> int:
    """Closed channels this actor still holds in memory (without collecting cycles:
    those would hold a large frame's buffer until the next gc)."""
    import gc

    from devx.runtime.ipc import Channel

    return sum(1 for o in gc.get_objects() if isinstance(o, Channel) and o.closed)


def freeze_gc() -> None:
    """No automatic cycle collection in this actor from now on."""
    import gc

    gc.disable()


async def listen_addr() -> object:
    return await devx.current_actor().ensure_listener()


def _debug_referrers() -> list[str]:
    import gc

    from devx.runtime.ipc import Channel

    out = []
    for o in gc.get_objects():
        if isinstance(o, Channel) and o.closed:
            for r in gc.get_referrers(o):
                if isinstance(r, dict):
                    out.append("dict keys " + ",".join(list(map(str, r.keys()))[:8]))
                else:
                    out.append(type(r).__name__ + " " + repr(r)[:100])
            break
    return out
