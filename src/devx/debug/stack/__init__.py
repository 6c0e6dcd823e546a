"""Stack dumps from every actor of a tree (what ``tractor.devx`` calls
``enable_stack_on_sig``): the public face of a concern of its own.

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
from .handler import (
    COALESCE_S,
    HOOK,
    actor_lifetime,
    disable_stack_on_sig,
    enable_stack_on_sig,
    env_enabled,
    format_stack_dump,
    log_path,
    stack_on_sig_enabled,
)
from .registry import Entry, entries, proc_cmdline, proc_start_time, runtime_dir

# what only the dump's readers need loads on first use (not on every actor's boot)
__getattr__ = lazy_getattr(
    __name__,
    {
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
