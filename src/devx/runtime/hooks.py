"""Actor lifetime hooks: how the debug and telemetry layers plug into every actor
without the runtime importing them.

A hook is named ``"package.module:attr"``; ``attr`` is a callable taking the
:class:`~devx.runtime.actor.Actor` and returning an async context manager that is
entered once the actor is set up (inside ``trio.run``, before it serves calls) and
exited after its last task finished. Hooks run in registration order and unwind in
reverse. The names travel to children in ``RuntimeConfig.hooks`` so every actor of a
tree runs the same hooks; modules are imported only when an actor boots.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .actor import Actor

Hook = Callable[["Actor"], AbstractAsyncContextManager[None]]

_registered: list[str] = []


def register(path: str) -> None:
    """Register a lifetime hook by import path (idempotent)."""
    if ":" not in path:
        raise ValueError(f"hook path must look like 'module:attr', got {path!r}")
    if path not in _registered:
        _registered.append(path)


def registered() -> tuple[str, ...]:
    return tuple(_registered)


def load(path: str) -> Hook:
    """Import and return the hook named by ``path``."""
    mod_name, _, attr = path.partition(":")
    hook = getattr(importlib.import_module(mod_name), attr)
    if not callable(hook):
        raise TypeError(f"actor hook {path!r} is not callable")
    return cast(Hook, hook)
