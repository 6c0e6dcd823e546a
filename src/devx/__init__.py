"""devx: a trio multi-process actor runtime whose debugging tools double as telemetry.

The daily drivers live here; the debugger toolbox is :mod:`devx.debug`. Heavy
dependencies (pdbp, opentelemetry, stackscope, greenback) load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import __version__ as __version__
from .core import hooks as _hooks
from .core.public import lazy_getattr, present_as
from .runtime import LAZY as _RUNTIME_LAZY
from .runtime import (
    Actor,
    ActorBootError,
    ActorExited,
    ActorID,
    ChannelClosed,
    ContextCancelled,
    ContextError,
    FunctionNotFound,
    IPCEncodeError,
    Lineage,
    ModuleNotEnabled,
    MsgTypeError,
    NoRuntime,
    ProtocolMismatch,
    RemoteActorError,
    StreamClosed,
    StreamOverrun,
    current_actor,
)

# every actor of a tree runs these hooks (devx.core.hooks; imported when an actor
# boots, each a small module that loads its layer only when the actor's settings ask
# for it); telemetry first, so it is entered first and exits last, after the
# debugger's events
_hooks.register("devx.telemetry.hook:HOOK")
_hooks.register("devx.debug.boot:HOOK")
_hooks.register("devx.debug.stack:HOOK")

# debugger entry points, imported from devx.debug on first use, and the runtime's
# entry points a child actor serving calls does not need (devx.runtime.LAZY); any
# submodule (``devx.debug``, ``devx.telemetry.readback`` ...) is reachable as an attribute
_lazy_getattr = lazy_getattr(
    __name__,
    {
        **{
            name: ".debug"
            for name in (
                "pause",
                "pause_from_sync",
                "post_mortem",
                "breakpoint",
                "GreenbackNotEnabled",
            )
        },
        # the peer project's names (devx.log and devx.trionics are submodules)
        "is_root_process": ".runtime.actor",
        "debug_mode": ".runtime.actor",
        "get_runtime_vars": ".runtime.runtime_vars",
        "RuntimeVars": ".runtime.runtime_vars",
        "open_actor_cluster": ".runtime.cluster",
        "run_daemon": ".runtime.daemon",
        "Channel": ".runtime.ipc",
        # decorators: an actor whose modules define no context never loads contexts
        "context": ".runtime.context",
        "stream": ".runtime.context",
        # other names of ModuleNotEnabled / ChannelClosed (they print as those: not in
        # __all__, whose exceptions print as their own name)
        "ModuleNotExposed": ".runtime.errors",
        "TransportClosed": ".runtime.errors",
        **{name: ".runtime" + where for name, where in _RUNTIME_LAZY.items()},
    },
    present=__name__,
)


def __getattr__(name: str) -> Any:
    if name == "devx":  # the peer's debugger toolbox, `tractor.devx`, is devx.debug
        from . import debug

        return debug
    return _lazy_getattr(name)


if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from . import debug as debug
    from . import debug as devx  # noqa: F401  (the peer's name for it)
    from . import runtime as runtime
    from . import telemetry as telemetry
    from .core import settings as settings
    from .debug import GreenbackNotEnabled as GreenbackNotEnabled
    from .debug import pause_from_sync as pause_from_sync
    from .debug.pause import breakpoint as breakpoint
    from .debug.pause import pause as pause
    from .debug.post_mortem import post_mortem as post_mortem
    from .runtime.actor import debug_mode as debug_mode
    from .runtime.actor import is_root_process as is_root_process
    from .runtime.cluster import open_actor_cluster as open_actor_cluster
    from .runtime.context import Context as Context
    from .runtime.context import MsgStream as MsgStream
    from .runtime.context import context as context
    from .runtime.context import current_ipc_ctx as current_ipc_ctx
    from .runtime.context import stream as stream
    from .runtime.daemon import run_daemon as run_daemon
    from .runtime.discovery import find_actor as find_actor
    from .runtime.discovery import get_registry as get_registry
    from .runtime.discovery import query_actor as query_actor
    from .runtime.discovery import wait_for_actor as wait_for_actor
    from .runtime.errors import ModuleNotExposed as ModuleNotExposed
    from .runtime.errors import TransportClosed as TransportClosed
    from .runtime.ipc import Channel as Channel
    from .runtime.nursery import ActorNursery as ActorNursery
    from .runtime.nursery import open_nursery as open_nursery
    from .runtime.portal import Portal as Portal
    from .runtime.root import open_root_actor as open_root_actor
    from .runtime.runtime_vars import RuntimeVars as RuntimeVars
    from .runtime.runtime_vars import get_runtime_vars as get_runtime_vars

__all__ = [
    "Actor",
    "ActorBootError",
    "ActorExited",
    "ActorID",
    "ActorNursery",
    "Channel",
    "ChannelClosed",
    "Context",
    "ContextCancelled",
    "ContextError",
    "FunctionNotFound",
    "GreenbackNotEnabled",
    "IPCEncodeError",
    "Lineage",
    "ModuleNotEnabled",
    "MsgStream",
    "MsgTypeError",
    "NoRuntime",
    "Portal",
    "ProtocolMismatch",
    "RemoteActorError",
    "RuntimeVars",
    "StreamClosed",
    "StreamOverrun",
    "breakpoint",
    "context",
    "current_actor",
    "current_ipc_ctx",
    "debug_mode",
    "find_actor",
    "get_registry",
    "get_runtime_vars",
    "is_root_process",
    "open_actor_cluster",
    "open_nursery",
    "open_root_actor",
    "pause",
    "pause_from_sync",
    "post_mortem",
    "query_actor",
    "run_daemon",
    "stream",
    "wait_for_actor",
]

present_as(__name__, [globals()[name] for name in __all__ if name in globals()])
