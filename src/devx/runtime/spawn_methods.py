"""Which backend starts a tree's actors: a plain subprocess
(:class:`devx.runtime.spawn.SubprocessSpawner`) or the fork server
(:mod:`devx.runtime.forkserver`). A tree picks one when its root opens:
``open_root_actor(spawn_method=...)``, else ``DEVX_SPAWN_METHOD``, else
:data:`DEFAULT_METHOD` (the fork server on Linux, subprocesses elsewhere)."""

from __future__ import annotations

from ..core import settings
from . import forkserver
from .spawn import Spawner, SubprocessSpawner

METHODS = ("subprocess", "forkserver")
METHOD_ENV = "DEVX_SPAWN_METHOD"
# the fork server where the platform has it (Linux), else subprocesses; a tree falls
# back to subprocesses by itself where the zygote cannot serve (README, "Spawning")
DEFAULT_METHOD = "forkserver"


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
        if not forkserver.available():
            return "subprocess"
    return method


def default_spawner() -> Spawner:
    """The tree's backend: the fork server when this actor has a connection to one
    (an actor it forked, a root that spawned) or will start one (the root of a
    forkserver tree), else subprocesses."""
    if forkserver.will_fork():
        return forkserver.ForkServerSpawner()
    return SubprocessSpawner()
