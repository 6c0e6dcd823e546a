"""devx: a trio multi-process actor runtime whose debugging tools double as telemetry.

The daily drivers live here; the debugger toolbox is :mod:`devx.debug`. Heavy
dependencies (pdbp, opentelemetry, stackscope, greenback) load only when used.
"""

from __future__ import annotations

from typing import Any

from .runtime import (
    Actor,
    ActorBootError,
    ActorExited,
    ActorID,
    ActorNursery,
    ChannelClosed,
    Context,
    ContextCancelled,
    ContextError,
    FunctionNotFound,
    IPCEncodeError,
    Lineage,
    ModuleNotEnabled,
    MsgStream,
    MsgTypeError,
    NoRuntime,
    Portal,
    RemoteActorError,
    StreamClosed,
    current_actor,
    open_nursery,
    open_root_actor,
)
from .runtime import hooks as _hooks
from .runtime.context import context

__version__ = "0.1.0"

# every actor of a tree runs these lifetime hooks (imported when an actor boots);
# telemetry first, so it is entered first and exits last, after the debugger's events
_hooks.register("devx.telemetry.boot:actor_lifetime")
_hooks.register("devx.debug.boot:actor_lifetime")
_hooks.register("devx.debug.stack:actor_lifetime")

# debugger entry points, imported from devx.debug on first use
_LAZY = {"pause", "pause_from_sync", "post_mortem", "breakpoint", "GreenbackNotEnabled"}
# subpackages reachable as attributes after a plain ``import devx`` (imported on first
# use, so ``import devx`` stays fast): ``devx.debug.mk_pdb``,
# ``devx.telemetry.readback.load_spans`` ...
_SUBPACKAGES = {"debug", "telemetry", "runtime", "cli"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import debug

        return getattr(debug, name)
    if name in _SUBPACKAGES:
        from importlib import import_module

        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'devx' has no attribute {name!r}")


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
    "GreenbackNotEnabled",
    "IPCEncodeError",
    "Lineage",
    "ModuleNotEnabled",
    "MsgStream",
    "MsgTypeError",
    "NoRuntime",
    "Portal",
    "RemoteActorError",
    "StreamClosed",
    "breakpoint",
    "context",
    "current_actor",
    "open_nursery",
    "open_root_actor",
    "pause",
    "pause_from_sync",
    "post_mortem",
]
