"""The actor runtime: actors, IPC, spawning, portals, errors. Knows nothing of the
debug or telemetry internals; they plug in through :mod:`devx.runtime.hooks` and
the small event API :mod:`devx.telemetry.events`."""

from __future__ import annotations

from .actor import Actor, current_actor
from .errors import (
    ActorBootError,
    ActorExited,
    ChannelClosed,
    ContextCancelled,
    FunctionNotFound,
    IPCEncodeError,
    ModuleNotEnabled,
    MsgTypeError,
    NoRuntime,
    RemoteActorError,
)
from .msgs import ActorID, Lineage
from .nursery import ActorNursery, open_nursery
from .portal import Portal
from .root import open_root_actor

__all__ = [
    "Actor",
    "ActorBootError",
    "ActorExited",
    "ActorID",
    "ActorNursery",
    "ChannelClosed",
    "ContextCancelled",
    "FunctionNotFound",
    "IPCEncodeError",
    "Lineage",
    "ModuleNotEnabled",
    "MsgTypeError",
    "NoRuntime",
    "Portal",
    "RemoteActorError",
    "current_actor",
    "open_nursery",
    "open_root_actor",
]
