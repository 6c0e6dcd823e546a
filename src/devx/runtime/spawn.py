"""Launching a child actor process: the small interface every backend implements
(:class:`Spawner`, :class:`ChildProcess`) and the plain backend, a subprocess
(``python -m devx.runtime.child``). The fork server (:mod:`devx.runtime.forkserver`)
is the other backend; :mod:`devx.runtime.spawn_methods` picks one per tree."""

from __future__ import annotations

import os
import sys
from typing import Protocol

import msgspec
import trio

from .msgs import SpawnSpec


class ChildProcess(Protocol):
    """What a parent needs of a child process (``trio.Process`` has it)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> object:
        """Send ``sig`` while the process is this child (never to a pid it left);
        may return False when it is known not to have been sent."""
        ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Spawner(Protocol):
    async def spawn(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> ChildProcess:
        """Start a process that boots an actor from ``spec`` and says hello to its
        parent over ``chan_fd``, its end of a socketpair the parent made for it (the
        child's channel to its parent never goes through a listener, where it would
        compete with strangers for the pre-authentication places)."""
        ...


class SubprocessSpawner:
    """``python -m devx.runtime.child`` via ``trio.lowlevel.open_process``.

    The child inherits stdin/stdout/stderr (the debugger needs the TTY) and the
    process group (so ctrl-c reaches it, see the debug layer's SIGINT handling). The
    spawn spec, which carries the tree secret, goes through a pipe, never argv.
    """

    def argv(self, spec: SpawnSpec, read_fd: int, chan_fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "devx.runtime.child",
            "--spawn-fd",
            str(read_fd),
            "--chan-fd",
            str(chan_fd),
            "--name",
            spec.name,
            "--path",
            f"{spec.parent_path}/{spec.name}",
        ]

    async def spawn(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> trio.Process:
        read_fd, write_fd = os.pipe()
        try:
            proc = await trio.lowlevel.open_process(
                self.argv(spec, read_fd, chan_fd), pass_fds=(read_fd, chan_fd), env=env
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
