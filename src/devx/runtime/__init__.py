"""The actor runtime: actors, IPC, spawning, portals, errors. Knows nothing of the
debug or telemetry internals; they plug in through :mod:`devx.core.hooks` and
the small event API :mod:`devx.core.events`."""

from __future__ import annotations

from ..core.public import lazy_getattr
from .actor import Actor, current_actor
from .context import Context, MsgStream, current_ipc_ctx
from .discovery import find_actor, get_registry, query_actor, wait_for_actor
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
    RemoteActorError,
    StreamClosed,
    StreamOverrun,
)
from .msgs import ActorID, Lineage
from .nursery import ActorNursery, open_nursery
from .portal import Portal
from .root import open_root_actor

# any submodule (``devx.runtime.ipc``) is reachable as an attribute, imported on first use
__getattr__ = lazy_getattr(__name__, {})

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
