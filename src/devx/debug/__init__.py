"""The devx debugger toolbox (what the seed calls ``tractor.devx``): the tree-global
TTY lock, pause and post-mortem REPLs in any actor, crash handlers for sync CLIs and
stack dumps. Submodules import lazily so ``import devx`` stays fast."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# light modules (pdbp itself loads only when a REPL opens); importing the functions
# also keeps the names from being shadowed by the submodules of the same name
from .pause import breakpoint, pause
from .post_mortem import post_mortem
from .repl import mk_pdb
from .wait import maybe_wait_for_debugger

_EXPORTS = {
    "PdbREPL": ".repl",
    "acquire_debug_lock": ".acquire",
    "GreenbackNotEnabled": ".sync",
    "enable_stack_on_sig": ".stack",
    "pause_from_sync": ".sync",
    "open_crash_handler": ".crash_handler",
    "maybe_open_crash_handler": ".crash_handler",
}


# submodules reachable as attributes without importing them first
# (``devx.debug.stack.enable_stack_on_sig``)
_SUBMODULES = {
    "acquire",
    "boot",
    "breakpoint_hook",
    "crash_handler",
    "frames",
    "lock",
    "lock_protocol",
    "quit_report",
    "session",
    "sigint",
    "stack",
    "sync",
    "tree_lock",
}


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is not None:
        return getattr(import_module(mod, __name__), name)
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'devx.debug' has no attribute {name!r}")


__all__ = [
    "breakpoint",
    "maybe_wait_for_debugger",
    "mk_pdb",
    "pause",
    "post_mortem",
    *sorted(_EXPORTS),
]
