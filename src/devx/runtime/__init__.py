"""The actor runtime: actors, IPC, spawning, portals, errors. Knows nothing of the
debug or telemetry internals; they plug in through :mod:`devx.core.hooks` and
the small event API :mod:`devx.core.events`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.public import lazy_getattr
from .actor import Actor, current_actor
from .errors import (
    ActorBootError,
    ActorExited,
    ChannelClosed,
    ContextCancelled,
    ContextError,
    FunctionNotFound,
    IPCEncodeError,
    ModuleNotEnabled,
    MsgTypeError,
    NoRuntime,
    ProtocolMismatch,
    RemoteActorError,
    StreamClosed,
    StreamOverrun,
)
from .msgs import ActorID, Lineage

# what a child actor serving calls needs is imported above; portals (calling another
# actor), contexts and streams, opening trees and nurseries (spawning, the fork
# server) and discovery load on first use, as does any submodule (``devx.runtime.ipc``)
LAZY = {
    "Portal": ".portal",
    **dict.fromkeys(("Context", "MsgStream", "current_ipc_ctx"), ".context"),
    "ActorNursery": ".nursery",
    "open_nursery": ".nursery",
    "open_root_actor": ".root",
    **dict.fromkeys(("find_actor", "get_registry", "query_actor", "wait_for_actor"), ".discovery"),
}
# shown as ``devx.<name>`` whichever package they are reached through
__getattr__ = lazy_getattr(__name__, LAZY, present="devx")

if TYPE_CHECKING:
    from .context import Context as Context
    from .context import MsgStream as MsgStream
    from .context import current_ipc_ctx as current_ipc_ctx
    from .discovery import find_actor as find_actor
    from .discovery import get_registry as get_registry
    from .discovery import query_actor as query_actor
    from .discovery import wait_for_actor as wait_for_actor
    from .nursery import ActorNursery as ActorNursery
    from .nursery import open_nursery as open_nursery
    from .portal import Portal as Portal
    from .root import open_root_actor as open_root_actor

__all__ = [
    "Actor",
    "ActorBootError",
    "ActorExited",
    "ActorID",
    "ActorNursery",
    "ChannelClosed",
    "Context",
    "ContextCancelled",
    "ContextError",
    "FunctionNotFound",
    "IPCEncodeError",
    "Lineage",
    "ModuleNotEnabled",
    "MsgStream",
    "MsgTypeError",
    "NoRuntime",
    "Portal",
    "ProtocolMismatch",
    "RemoteActorError",
    "StreamClosed",
    "StreamOverrun",
    "current_actor",
    "current_ipc_ctx",
    "find_actor",
    "get_registry",
    "open_nursery",
    "open_root_actor",
    "query_actor",
    "wait_for_actor",
]
