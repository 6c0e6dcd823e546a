"""The devx debugger toolbox (what the seed calls ``tractor.devx``): the tree-global
TTY lock, pause and post-mortem REPLs in any actor, crash handlers for sync CLIs and
stack dumps. Submodules import lazily so ``import devx`` stays fast."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..core.public import lazy_getattr

# nothing is imported here: every actor imports this package at boot (its hook,
# devx.debug.boot), and one that never opens a REPL must not pay for the debugger.
# The daily drivers show as devx.pause ..., the rest as devx.debug.<name>
_DRIVERS = {"pause": ".pause", "breakpoint": ".pause", "post_mortem": ".post_mortem"}
_EXPORTS = {
    "PdbREPL": ".repl",
    "acquire_debug_lock": ".acquire",
    "BoxedMaybeException": ".crash_handler",
    "GreenbackNotEnabled": ".sync",
    "enable_stack_on_sig": ".stack",
    "maybe_wait_for_debugger": ".wait",
    "maybe_init_greenback": ".sync",
    "mk_pdb": ".repl",
    "pause_from_sync": ".sync",
    "open_crash_handler": ".crash_handler",
    "maybe_open_crash_handler": ".crash_handler",
}
_drivers = lazy_getattr(__name__, _DRIVERS, present="devx")
_exports = lazy_getattr(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    """The exports above load on first use; so does any submodule (``devx.debug.stack``)."""
    return (_drivers if name in _DRIVERS else _exports)(name)


class _Package(ModuleType):
    """``pause`` and ``post_mortem`` are both a function and the submodule defining it:
    importing the submodule binds it as an attribute of this package, which would hide
    the function from ``devx.debug.pause``; the function keeps the name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _DRIVERS and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from .acquire import acquire_debug_lock as acquire_debug_lock
    from .crash_handler import BoxedMaybeException as BoxedMaybeException
    from .crash_handler import maybe_open_crash_handler as maybe_open_crash_handler
    from .crash_handler import open_crash_handler as open_crash_handler
    from .pause import breakpoint as breakpoint
    from .pause import pause as pause
    from .post_mortem import post_mortem as post_mortem
    from .repl import PdbREPL as PdbREPL
    from .repl import mk_pdb as mk_pdb
    from .stack import enable_stack_on_sig as enable_stack_on_sig
    from .sync import GreenbackNotEnabled as GreenbackNotEnabled
    from .sync import maybe_init_greenback as maybe_init_greenback
    from .sync import pause_from_sync as pause_from_sync
    from .wait import maybe_wait_for_debugger as maybe_wait_for_debugger

__all__ = ["breakpoint", "pause", "post_mortem", *sorted(_EXPORTS)]
