"""The stack-dump layer's hook (:mod:`devx.core.hooks`), ``devx.debug.stack:HOOK``.
Every actor imports it at boot; the dump handler (:mod:`.handler`: stackscope's
walk, the watchdog thread, the registry) loads only in an actor whose tree asked for
dumps (``enable_stack_on_sig=True`` or ``DEVX_ENABLE_STACKSCOPE``)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from ...core import settings


class StackDumpHook:
    def actor_lifetime(self, actor: Any) -> AbstractAsyncContextManager[None] | None:
        cfg = getattr(actor, "config", None)
        if not (getattr(cfg, "enable_stack_on_sig", False) or settings.current().enable_stackscope):
            return None  # (a handler the user enabled by hand stays as it is)
        from .handler import actor_lifetime

        return actor_lifetime(actor)

    def preload_for(self, spec: Any, env: Mapping[str, str]) -> None:
        """A tree with dumps: the handler (loaded at each actor's boot) and stackscope
        with devx's memo on it (at an actor's first dump: most of that dump's CPU),
        warmed for what every trio process's dump walks, once for all forked
        children; the memo's set-up keeps stackscope's import quiet on Python 3.13 (a
        warning on the terminal otherwise)."""
        if spec.config.enable_stack_on_sig or spec.settings.enable_stackscope:
            from . import handler, memo

            memo.install()
            handler.warm_ahead()


HOOK = StackDumpHook()
