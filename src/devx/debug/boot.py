"""The debug layer's actor lifetime hook (see :mod:`devx.runtime.hooks`): wires the
TTY lock, SIGINT shielding, crash REPLs and teardown waiting into every actor.
Kept import-light: pdbp is only imported when a REPL opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..runtime.actor import Actor
from . import lock as tty_lock
from . import sigint


@asynccontextmanager
async def actor_lifetime(actor: Actor) -> AsyncIterator[None]:
    from .post_mortem import crash_hook
    from .wait import maybe_wait_for_debugger

    async def on_crash(exc: BaseException) -> None:
        await crash_hook(actor, exc)

    async def before_teardown() -> None:
        await maybe_wait_for_debugger(poll_steps=1)

    if actor.is_root:
        # the root serves the lock even when only some children run in debug mode
        tty_lock.install(tty_lock.TTYLock())
        actor.enable_module("devx.debug.lock")
    prev = sigint.install(actor) if (actor.is_root or actor.debug_mode) else None
    actor.crash_hooks.append(on_crash)
    if actor.debug_mode:
        actor.teardown_hooks.append(before_teardown)
    try:
        yield
    finally:
        actor.crash_hooks.remove(on_crash)
        if before_teardown in actor.teardown_hooks:
            actor.teardown_hooks.remove(before_teardown)
        sigint.restore(prev)
        if actor.is_root:
            tty_lock.install(None)
