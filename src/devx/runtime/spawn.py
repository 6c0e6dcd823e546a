"""Launching a child actor process: the small interface every backend implements
(:class:`Spawner`, :class:`ChildProcess`) and the plain backend, a subprocess
(``python -m devx.runtime.child``). The fork server (:mod:`devx.runtime.forkserver`)
is the other backend; :mod:`devx.runtime.spawn_methods` picks one per tree."""

from __future__ import annotations

import os
import socket
import sys
from typing import Protocol

import msgspec
import trio

from .msgs import ACTOR_VARS, SpawnSpec


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


def python() -> list[str]:
    """This interpreter with the options it runs under (``-X dev``, ``-X
    faulthandler``, ``-W ...``, ``-O``, ``-X importtime`` ...), as multiprocessing
    starts its children: an actor of a tree run with ``python -X dev tree.py`` runs in
    dev mode too (its warnings shown, faulthandler on)."""
    import subprocess  # (light: spawning imports it anyway)

    return [sys.executable, *subprocess._args_from_interpreter_flags()]  # type: ignore[attr-defined]


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
            *python(),
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
        spare = take_spare()
        if spare is not None:
            proc = await spare.take(spec, env, chan_fd)
            if proc is not None:
                return proc
            try:  # (killed, not fit): gone while this one starts
                return await self.spawn_now(spec, env, chan_fd)
            finally:
                await spare.discard()
        return await self.spawn_now(spec, env, chan_fd)

    async def spawn_now(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> trio.Process:
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


# --- the spare: a subprocess tree's first actor, started before the tree knows it ---


_INHERITED_STATUS = (b"Umask", b"SigIgn", b"SigBlk", b"NoNewPrivs")  # /proc/self/status

# the spare's command line: ctrl-c ignored before its first import, as the zygote's
# (spawn_methods.ZYGOTE_BOOT): it imports in the program's first moments, when a
# ctrl-c is the root's to handle, not a traceback of its imports on the terminal.
# Named as devx's, so the debugger takes this frame for plumbing as it does `python
# -m devx.runtime.child`'s; main() makes sys.argv what that command's would be. Its
# imports run with the garbage collector off (on again once they are frozen, see
# child._serve): its passes over them, ~50k objects of trio, msgspec and devx that all
# live on but for ~2.4k of garbage (trio's attrs classes rebuilt with slots, ...),
# were ~5% of its instructions to its first call; that garbage stays, frozen
# (~1 MiB of its RSS)
SPARE_BOOT = (
    "__name__ = 'devx.runtime.spare_boot'; "
    "import _signal as s; s.signal(s.SIGINT, s.SIG_IGN); "
    "import gc; g = gc.isenabled(); gc.disable(); "
    "from devx.runtime.child import main; main(collector=g)"
)


def _spawn_state() -> tuple[object, ...]:
    """What a child inherits from this process at its spawn besides the environment
    (compared when a spare is taken): cwd, process group and session, stdio (which
    files), umask, ignored and blocked signals, resource limits (Linux: from
    ``/proc``)."""
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    stdio: list[tuple[int, int] | None] = []
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            stdio.append((st.st_dev, st.st_ino))
        except OSError:
            stdio.append(None)
    kernel: list[bytes] = []
    try:
        with open("/proc/self/status", "rb") as f:
            kernel = [line for line in f if line.startswith(_INHERITED_STATUS)]
        with open("/proc/self/limits", "rb") as f:
            kernel.append(f.read())
    except OSError:  # no /proc: the umask, read by setting it (the loop's thread only)
        mask = os.umask(0o022)
        os.umask(mask)
        kernel = [b"%o" % mask]
    return (cwd, os.getpgrp(), os.getsid(0), tuple(stdio), tuple(kernel))


async def start_with_socket(
    kind: int, boot: str, *args: str
) -> tuple[trio.Process, socket.socket, dict[str, str]]:
    """Start ``python -c boot *args FD`` with this process's environment, ``FD`` its
    end of a new Unix socketpair of ``kind``: the process, our end, the environment it
    got (what a spare or a zygote is compared against later)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, kind)
    env = dict(os.environ)
    fd = theirs.fileno()
    try:
        proc = await trio.lowlevel.open_process(
            [*python(), "-c", boot, *args, str(fd)], pass_fds=(fd,), env=env
        )
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    return proc, mine, env


class Spare:
    """A subprocess tree's first actor process, started by ``open_nursery`` before the
    root opens (as a forkserver tree's zygote is): ``python -c SPARE_BOOT --spare-fd
    FD`` (:data:`SPARE_BOOT`: :func:`devx.runtime.child.main`, ctrl-c ignored from
    the start) imports what every actor imports (~0.1 s: most of a spawn) while
    the root sets itself up, then waits for its spec and its channel's socket, passed
    over ``FD``. The tree's first spawn takes it when the child it wants is the one
    the spare would be: the same environment (but for :data:`ACTOR_VARS`, which the
    child sets itself from its spec) and the same :func:`_spawn_state`; else it is
    killed and the child spawned plainly. Nobody takes it (the block spawns nothing,
    the root fails to open): killed when the block ends, reaped before
    ``open_nursery`` returns. The root dies: the spare reads the end of ``FD`` and
    exits at once, saying nothing."""

    def __init__(self, proc: trio.Process, sock: socket.socket, env: dict[str, str]):
        self.proc = proc
        self.sock = sock
        self.env = env
        self.state = _spawn_state()
        self.owner = os.getpid()
        self.fate = "waiting"  # then "actor" (taken) or "killed"

    @classmethod
    async def start(cls) -> Spare:
        return cls(*await start_with_socket(socket.SOCK_STREAM, SPARE_BOOT, "--spare-fd"))

    def fits(self, env: dict[str, str]) -> bool:
        """Whether a child spawned now with ``env`` would be the spare."""
        mine = {k: v for k, v in self.env.items() if k not in ACTOR_VARS}
        theirs = {k: v for k, v in env.items() if k not in ACTOR_VARS}
        return mine == theirs and _spawn_state() == self.state

    async def take(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> trio.Process | None:
        """Make the spare the actor of ``spec``: its spec and ``chan_fd`` (a copy of it
        goes to the spare) over its socket, which then closes. ``None`` when it does
        not fit or is gone: it is killed (:meth:`discard` reaps it)."""
        if self.fate != "waiting" or self.proc.returncode is not None or not self.fits(env):
            self.kill()
            return None
        from .fdpass import rights

        data = memoryview(msgspec.msgpack.encode(spec))
        self.fate = "actor"
        sock = trio.socket.from_stdlib_socket(self.sock)
        try:
            sent = await sock.sendmsg([data], rights([chan_fd]))
            while sent < len(data):
                sent += await sock.send(data[sent:])
        except BaseException as exc:
            # it died (killed by someone?) before it read it: spawned plainly; or this
            # spawn was cancelled (a spec half sent is nobody's): killed either way,
            # and reaped by discard() (as an actor it would be nobody's to reap)
            self.fate = "waiting"
            self.kill()
            if isinstance(exc, OSError):
                return None
            raise
        finally:
            sock.close()
        return self.proc

    def kill(self) -> None:
        """Unless it is an actor now: killed (at once: it has no state of anyone's)."""
        if self.fate == "actor":
            return
        self.fate = "killed"
        self.sock.close()
        if self.proc.returncode is None:
            self.proc.kill()

    async def discard(self) -> None:
        """Unless it is an actor now: killed and reaped (shielded: a killed process
        exits at once)."""
        if self.fate == "actor":
            return
        self.kill()
        with trio.CancelScope(shield=True):
            await self.proc.wait()


_spare: Spare | None = None  # the spare of this process's tree, until taken


def offer_spare(spare: Spare | None) -> None:
    """The spare the next spawn of this process takes (``None``: no more)."""
    global _spare
    _spare = spare


def take_spare() -> Spare | None:
    """The spare, for the spawn that asks first (it is gone for the next)."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None and spare.owner != os.getpid():
        return None  # a process this one forked: not its child
    return spare
