"""Stack dumps from every actor of a tree (what ``tractor.devx`` calls
``enable_stack_on_sig``): the public face of a concern of its own.

- :mod:`.hook`: what every actor loads at boot; the rest loads when a tree asks
  for dumps or a reader for them;
- :mod:`.handler`: the SIGUSR1 handler, the relay down the tree, the blocked-loop
  watchdog and the dump text (stackscope's task tree plus every thread's stack);
- :mod:`.registry`: the private per-user directory where trees register, so
  ``devx ps``/``devx dump`` and the pytest plugin can find them;
- :mod:`.gather`: asking registered trees for dumps and waiting for them;
- :mod:`.brief`: the one-line-per-task summary; :mod:`.memo`: stackscope's costly
  first walk done ahead of time.

``devx.cli`` and the pytest plugin use only the names exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.public import lazy_getattr
from .hook import HOOK

_HANDLER = (
    "COALESCE_S",
    "actor_lifetime",
    "disable_stack_on_sig",
    "enable_stack_on_sig",
    "env_enabled",
    "format_stack_dump",
    "log_path",
    "stack_on_sig_enabled",
)
_REGISTRY = ("Entry", "entries", "proc_cmdline", "proc_start_time", "runtime_dir")

# every actor imports this package at boot (its hook): the rest loads on first use
__getattr__ = lazy_getattr(
    __name__,
    {
        **dict.fromkeys(_HANDLER, ".handler"),
        **dict.fromkeys(_REGISTRY, ".registry"),
        "collect": ".gather",
        "topmost": ".gather",
        "merge_briefs": ".brief",
        "BRIEF_HEAD": ".brief",
    },
)

if TYPE_CHECKING:
    from .brief import BRIEF_HEAD as BRIEF_HEAD
    from .brief import merge_briefs as merge_briefs
    from .gather import collect as collect
    from .gather import topmost as topmost
    from .handler import COALESCE_S as COALESCE_S
    from .handler import actor_lifetime as actor_lifetime
    from .handler import disable_stack_on_sig as disable_stack_on_sig
    from .handler import enable_stack_on_sig as enable_stack_on_sig
    from .handler import env_enabled as env_enabled
    from .handler import format_stack_dump as format_stack_dump
    from .handler import log_path as log_path
    from .handler import stack_on_sig_enabled as stack_on_sig_enabled
    from .registry import Entry as Entry
    from .registry import entries as entries
    from .registry import proc_cmdline as proc_cmdline
    from .registry import proc_start_time as proc_start_time
    from .registry import runtime_dir as runtime_dir

__all__ = [
    "BRIEF_HEAD",
    "COALESCE_S",
    "HOOK",
    "Entry",
    "actor_lifetime",
    "collect",
    "disable_stack_on_sig",
    "enable_stack_on_sig",
    "entries",
    "env_enabled",
    "format_stack_dump",
    "log_path",
    "merge_briefs",
    "proc_cmdline",
    "proc_start_time",
    "runtime_dir",
    "stack_on_sig_enabled",
    "topmost",
]
