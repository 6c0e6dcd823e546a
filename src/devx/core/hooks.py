"""The one extension point of devx: how the debug and telemetry layers plug into
every actor (and into a process with no actor) without the runtime importing them.

A hook is an object with any of the optional methods of :class:`Hook`, as with
``trio.abc.Instrument``: a method a hook does not define costs nothing. Hooks are
registered by import path (``"package.module:attr"``, the composition root
``devx/__init__.py`` registers devx's own); the paths travel to children in
``RuntimeConfig.hooks`` so every actor of a tree runs the same hooks, each module
imported only when an actor boots. Lifetimes are entered in registration order and
unwind in reverse; the other methods run in registration order, for the hooks whose
lifetime is entered.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

log = logging.getLogger("devx")


class ProcessTelemetry(Protocol):
    """Telemetry for a process with no actor (a sync CLI's crash REPL, a bare pause)."""

    def lineage_attrs(self) -> dict[str, str | int]: ...

    def close(self, outcome: str = "ok") -> None: ...


class Hook:
    """The extension point's methods, every one optional (a hook may be any object
    that defines some of them; subclassing this is only documentation)."""

    def actor_lifetime(self, actor: Any) -> AbstractAsyncContextManager[None] | None:
        """An async context manager around ``actor``'s life, entered once it is set
        up (inside ``trio.run``, before it serves calls) and exited after its last
        task finished; ``None``: nothing to do for this actor."""
        return None

    async def actor_crashed(self, actor: Any, exc: BaseException) -> BaseException | None:
        """``actor``'s own code raised ``exc`` (before it is boxed and sent up);
        return the error to report instead (e.g. the user quit the crash REPL), or
        ``None`` to report ``exc``."""
        return None

    async def before_teardown(self, actor: Any) -> bool:
        """A nursery of ``actor`` is about to cancel its children or escalate against
        one; True when the hook had to wait first (e.g. for a live REPL)."""
        return False

    def teardown_waits(self, actor: Any) -> bool:
        """Whether :meth:`before_teardown` would wait if called now (a sync look,
        nothing changed): a nursery whose hooks would all return at once cancels its
        children without running them (their calls cost every teardown ~0.07 ms before
        its cancel went out). A hook with ``before_teardown`` and without this method
        is always run."""
        return True

    def children_cancelled(self, actor: Any) -> None:
        """A nursery of ``actor`` has asked its children to cancel (its block is
        over) and is about to wait for them to exit: what can be done meanwhile,
        without waiting (a sync call on the actor's loop)."""

    def actor_cancelling(self, actor: Any, reason: str) -> None:
        """``actor`` is about to cancel everything it runs (``reason``: why, e.g.
        ``schema.CANCELLED_BY_SIGTERM``): what must come before its calls see the
        cancel, without waiting (a sync call on its loop)."""

    def quit_left_the_tree(self, actor: Any, path: str) -> None:
        """The user quit a REPL of ``actor``'s tree (in actor ``path``) and the quit
        ended a call that ``actor`` served for another tree's actor: it goes to that
        caller as an error, and no call of this tree carries it up to the root, so the
        tree's end by the quit is this hook's to start (a sync call on the loop)."""

    def modules_loaded(self, actor: Any) -> None:
        """``actor``'s ``enable_modules`` were imported after its lifetime was entered
        (a debug tree's child imports them once its hooks run, so that a module's
        top-level ``breakpoint()`` is the tree's REPL): what a lifetime set up from the
        modules the code imports (structlog's configuration) is finished here."""

    def process_telemetry(self) -> ProcessTelemetry | None:
        """Telemetry for this process when it has no actor, or ``None``."""
        return None

    def preload(self) -> None:
        """Import ahead what this hook loads for an actor with the default settings,
        in a process that forks actors (the fork server's zygote): its children find
        it imported. Imports only: no thread, no file, no socket."""

    def preload_for(self, spec: Any, env: Mapping[str, str]) -> None:
        """As :meth:`preload`, for one actor about to be forked: what its spawn spec
        (``runtime.msgs.SpawnSpec``: its config, the tree's settings) and
        environment make it load beyond the default. Called by the zygote before
        each fork, so the first child of a kind pays the import once for all its
        siblings. Imports only, and nothing whose import alone changes what the
        child does (a module the child tests for in ``sys.modules``)."""


_registered: list[str] = []
_loaded: dict[str, Any] = {}


def register(path: str) -> None:
    """Register a hook by import path (idempotent)."""
    if ":" not in path:
        raise ValueError(f"hook path must look like 'module:attr', got {path!r}")
    if path not in _registered:
        _registered.append(path)


def registered() -> tuple[str, ...]:
    return tuple(_registered)


def load(path: str) -> Any:
    """Import and return the hook named by ``path`` (once per process)."""
    hook = _loaded.get(path)
    if hook is None:
        mod_name, _, attr = path.partition(":")
        hook = _loaded[path] = getattr(importlib.import_module(mod_name), attr)
    return hook


class _NoTelemetry:
    """What a process with no actor records when no hook offers telemetry."""

    def lineage_attrs(self) -> dict[str, str | int]:
        return {"process.pid": os.getpid()}

    def close(self, outcome: str = "ok") -> None:
        pass


def preload() -> None:
    """Every registered hook's :meth:`Hook.preload` (a hook that fails to load or
    preload is skipped: the child that needs it loads it again and reports the error)."""
    _warm_all("preload")


def preload_for(spec: Any, env: Mapping[str, str]) -> None:
    """Every registered hook's :meth:`Hook.preload_for` for one actor about to be
    forked (a failure is skipped: the child loads it itself and reports the error)."""
    _warm_all("preload_for", spec, env)


def _warm_all(method: str, *args: Any) -> None:
    """Call ``method`` on every registered hook that has it; a failure is skipped."""
    for path in _registered:
        try:
            warm = getattr(load(path), method, None)
            if warm is not None:
                warm(*args)
        except Exception:
            pass


def process_telemetry() -> ProcessTelemetry:
    """The first registered hook's telemetry for a process with no actor; a null one
    when no hook offers any, or it failed (never in the way of a REPL)."""
    for path in _registered:
        make = getattr(load(path), "process_telemetry", None)
        if make is None:
            continue
        try:
            found = make()
        except Exception as exc:
            log.warning("devx: hook %s: process telemetry failed: %r", path, exc)
            continue
        if found is not None:
            return found  # type: ignore[no-any-return]
    return _NoTelemetry()
