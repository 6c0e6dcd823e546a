"""Launching a child actor process. One small interface (:class:`Spawner`), two
backends: a plain subprocess (``python -m devx.runtime.child``) and the fork server
(:mod:`devx.runtime.forkserver`: actors forked from a pre-imported zygote). A tree
picks one when its root opens: ``open_root_actor(spawn_method=...)``, else
``DEVX_SPAWN_METHOD``, else :data:`DEFAULT_METHOD`."""

from __future__ import annotations

import os
import sys
from typing import Protocol

import msgspec
import trio

from ..core import settings
from .msgs import SpawnSpec

METHODS = ("subprocess", "forkserver")
METHOD_ENV = "DEVX_SPAWN_METHOD"
# opt-in until the review's findings are fixed (README, "Spawning: the fork server"):
# e.g. a child killed while its parent's loop is blocked can be reported as cancelled
DEFAULT_METHOD = "subprocess"


class ChildProcess(Protocol):
    """What a parent needs of a child process (``trio.Process`` has it)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Spawner(Protocol):
    async def spawn(self, spec: SpawnSpec, env: dict[str, str]) -> ChildProcess:
        """Start a process that boots an actor from ``spec`` and connects back."""
        ...


def resolve_method(method: str | None) -> str:
    """The spawn method a new tree uses: ``method``, else ``$DEVX_SPAWN_METHOD``, else
    the default; the fork server only where the platform has it (else subprocess)."""
    source = "spawn_method"
    if not method:
        method, source = settings.current().spawn_method or DEFAULT_METHOD, METHOD_ENV
    if method not in METHODS:
        raise ValueError(
            f"{source}={method!r} is not a spawn method devx knows; use one of {METHODS}"
        )
    if method == "forkserver":
        from . import forkserver

        if not forkserver.available():
            return "subprocess"
    return method


class SubprocessSpawner:
    """``python -m devx.runtime.child`` via ``trio.lowlevel.open_process``.

    The child inherits stdin/stdout/stderr (the debugger needs the TTY) and the
    process group (so ctrl-c reaches it, see the debug layer's SIGINT handling). The
    spawn spec, which carries the tree secret, goes through a pipe, never argv.
    """

    def argv(self, spec: SpawnSpec, read_fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "devx.runtime.child",
            "--spawn-fd",
            str(read_fd),
            "--name",
            spec.name,
            "--path",
            f"{spec.parent_path}/{spec.name}",
        ]

    async def spawn(self, spec: SpawnSpec, env: dict[str, str]) -> trio.Process:
        read_fd, write_fd = os.pipe()
        try:
            proc = await trio.lowlevel.open_process(
                self.argv(spec, read_fd), pass_fds=(read_fd,), env=env
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        async with trio.lowlevel.FdStream(write_fd) as pipe:
            try:
                await pipe.send_all(msgspec.msgpack.encode(spec))
            except (trio.BrokenResourceError, OSError):
                pass  # the child died at once; its exit code tells why
        return proc


def default_spawner() -> Spawner:
    """The tree's backend: the fork server when this actor has a connection to one
    (the root of a forkserver tree, or an actor it forked), else subprocesses."""
    from . import forkserver

    client = forkserver.current_client()
    if client is not None:
        return forkserver.ForkServerSpawner(client)
    return SubprocessSpawner()
