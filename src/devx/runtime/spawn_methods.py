"""Which backend starts a tree's actors: a plain subprocess
(:class:`devx.runtime.spawn.SubprocessSpawner`) or the fork server
(:mod:`devx.runtime.forkserver`). A tree picks one when its root opens:
``open_root_actor(spawn_method=...)``, else ``DEVX_SPAWN_METHOD``, else
:data:`DEFAULT_METHOD` (the fork server on Linux, subprocesses elsewhere)."""

from __future__ import annotations

import sys
from contextvars import ContextVar

from ..core import settings
from .spawn import Spawner, SubprocessSpawner

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


def default_spawner() -> Spawner:
    """The tree's backend: the fork server when this actor has a connection to one
    (an actor it forked, a root that spawned) or will start one (the root of a
    forkserver tree), else subprocesses."""
    forkserver = sys.modules.get(FORKSERVER_MODULE)  # not loaded: nothing forks here
    if forkserver is not None and forkserver.will_fork():
        return forkserver.ForkServerSpawner()  # type: ignore[no-any-return]
    return SubprocessSpawner()
