"""The devx debugger toolbox (what the seed calls ``tractor.devx``): the tree-global
TTY lock, pause and post-mortem REPLs in any actor, crash handlers for sync CLIs and
stack dumps. Submodules import lazily so ``import devx`` stays fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.public import lazy_getattr, present_as

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

# the exports above load on first use; so does any submodule (``devx.debug.stack``)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .acquire import acquire_debug_lock as acquire_debug_lock
    from .crash_handler import maybe_open_crash_handler as maybe_open_crash_handler
    from .crash_handler import open_crash_handler as open_crash_handler
    from .repl import PdbREPL as PdbREPL
    from .stack import enable_stack_on_sig as enable_stack_on_sig
    from .sync import GreenbackNotEnabled as GreenbackNotEnabled
    from .sync import pause_from_sync as pause_from_sync

__all__ = [
    "breakpoint",
    "maybe_wait_for_debugger",
    "mk_pdb",
    "pause",
    "post_mortem",
    *sorted(_EXPORTS),
]

present_as("devx", [pause, breakpoint, post_mortem])  # the daily drivers: devx.pause ...
present_as(__name__, [mk_pdb, maybe_wait_for_debugger])
