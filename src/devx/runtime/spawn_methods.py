"""Which backend starts a tree's actors: a plain subprocess
(:class:`devx.runtime.spawn.SubprocessSpawner`) or the fork server
(:mod:`devx.runtime.forkserver`). A tree picks one when its root opens:
``open_root_actor(spawn_method=...)``, else ``DEVX_SPAWN_METHOD``, else
:data:`DEFAULT_METHOD` (the fork server on Linux, subprocesses elsewhere)."""

from __future__ import annotations

import os
import socket
import sys
from contextvars import ContextVar

import trio

from ..core import settings
from .spawn import Spare, Spawner, SubprocessSpawner, start_with_socket

METHODS = ("subprocess", "forkserver")
METHOD_ENV = "DEVX_SPAWN_METHOD"
# the fork server where the platform has it (Linux), else subprocesses; a tree falls
# back to subprocesses by itself where the zygote cannot serve (README, "Spawning")
DEFAULT_METHOD = "forkserver"
# set by open_nursery around the root it opens: that root spawns at once, so its
# zygote starts with it (its boot overlaps the root's set-up). Here, not in the fork
# server's module, which a subprocess tree never imports
SPAWNS_SOON: ContextVar[bool] = ContextVar("devx_spawns_soon", default=False)
FORKSERVER_MODULE = "devx.runtime.forkserver"
# the zygote's command line: ctrl-c ignored before the first import (a ctrl-c while
# it boots is the root's to handle, not a traceback of ours; _signal, built in, not
# signal, whose enum and functools imports were a window for one). This frame stays at the
# bottom of every forked actor's stack: it is named as devx's, so the debugger takes
# it for plumbing as it does ``python -m devx.runtime.child``'s. It imports with the
# garbage collector off, frozen and on again once done (zygote.main): as the spare
# (spawn.SPARE_BOOT), and as gc.freeze's documentation advises a process that forks
# (no holes freed among the objects its children share, no collection of theirs
# touching them)
ZYGOTE_BOOT = (
    "__name__ = 'devx.runtime.zygote_boot'; "
    "import _signal as s; s.signal(s.SIGINT, s.SIG_IGN); "
    "import gc; g = gc.isenabled(); gc.disable(); "
    "from devx.runtime.zygote import main; main(collector=g)"
)


def forkserver_available() -> bool:
    """Whether this platform can run the fork server (Linux: fork, SEQPACKET sockets
    with fd passing; the forked child's parent-death watch needs no pidfd)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and hasattr(socket, "SOCK_SEQPACKET")
        and hasattr(socket, "SCM_RIGHTS")
    )


class StartedZygote:
    """A zygote process with the root's end of its socketpair, before the root makes
    it its own (:func:`devx.runtime.forkserver.launch` claims it)."""

    def __init__(self, proc: trio.Process, sock: socket.socket, env: dict[str, str]):
        self.proc = proc
        self.sock = sock
        self.env = env  # the environment it started with (what its imports read)
        self.claimed = False

    async def discard(self) -> None:
        """Never claimed (the root failed to open): it goes, waited for."""
        if self.claimed:
            return
        self.claimed = True
        self.sock.close()
        with trio.CancelScope(shield=True):
            self.proc.kill()
            await self.proc.wait()


async def start_zygote() -> StartedZygote:
    """Start a zygote process (``python -c ZYGOTE_BOOT FD``) with this process's
    environment; it imports while we go on."""
    return StartedZygote(*await start_with_socket(socket.SOCK_SEQPACKET, ZYGOTE_BOOT))


# open_nursery's root: its zygote, started before the root opens (see start_early)
EARLY_ZYGOTE: ContextVar[StartedZygote | None] = ContextVar("devx_early_zygote", default=None)


async def start_early(method: str | None) -> StartedZygote | Spare | None:
    """What a root that ``open_nursery`` is about to open (and spawn from) starts
    first thing: the tree's first actor waits for a fresh interpreter's imports, so
    they start before the root's own set-up (its module imports, settings, listener,
    hooks) rather than after it. A forkserver tree's zygote; else a :class:`Spare`,
    the first actor's process itself. ``None`` when resolving the tree's method or
    starting the process fails (the root then says why, as it would)."""
    try:
        if resolve_method(method) != "forkserver":
            return await Spare.start()
        return await start_zygote()
    except (ValueError, OSError):
        return None


# the peer project's start_method names: a fresh interpreter per actor ("trio", its
# default, and "mp_spawn") is devx's subprocess; its fork servers are devx's
PEER_METHODS = {
    "trio": "subprocess",
    "mp_spawn": "subprocess",
    "mp_forkserver": "forkserver",
    "main_thread_forkserver": "forkserver",
}


def from_start_method(start_method: str | None, spawn_method: str | None) -> str | None:
    """The peer's ``start_method=`` as devx's ``spawn_method`` (None: neither given)."""
    if start_method is None:
        return spawn_method
    method = PEER_METHODS.get(start_method)
    if method is None:
        raise ValueError(
            f"start_method={start_method!r} is not a spawn method devx knows; use one of "
            f"{tuple(PEER_METHODS)} (the peer project's names) or spawn_method= one of {METHODS}"
        )
    if spawn_method is not None and spawn_method != method:
        raise ValueError(
            f"start_method={start_method!r} (spawn_method={method!r}) and "
            f"spawn_method={spawn_method!r} disagree: give one of them"
        )
    return method


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
    if method == "forkserver" and not forkserver_available():
        return "subprocess"
    return method


def default_spawner() -> Spawner:
    """The tree's backend: the fork server when this actor has a connection to one
    (an actor it forked, a root that spawned) or will start one (the root of a
    forkserver tree), else subprocesses."""
    forkserver = sys.modules.get(FORKSERVER_MODULE)  # not loaded: nothing forks here
    if forkserver is not None and forkserver.will_fork():
        return forkserver.ForkServerSpawner()  # type: ignore[no-any-return]
    return SubprocessSpawner()
