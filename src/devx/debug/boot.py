"""The debug layer's hook (see :mod:`devx.core.hooks`): wires the
TTY lock, SIGINT shielding, crash REPLs and teardown waiting into every actor; in
debug mode also the builtin ``breakpoint()`` remap and greenback portals for
``breakpoint()``/``pause_from_sync()`` on tasks. Every actor imports this module at
boot, so it imports nothing of the debug layer itself: an actor that can never open
a REPL (not the root, not in debug mode, not in a debug tree) has no lifetime here and
loads the post-mortem code only when it crashes; pdbp is only imported when a REPL
opens, greenback only when a debug-mode actor boots."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from ..core import settings
from ..core.hooks import Hook
from ..core.schema import CANCELLED_BY_SIGTERM
from ..runtime import ipc, lifeline
from ..runtime.actor import Actor

log = logging.getLogger("devx.debug")


class DebugHook(Hook):
    """Crash REPLs before a crash is boxed, teardown that waits for live REPLs, and
    the lifetime below."""

    def actor_lifetime(self, actor: Actor) -> AbstractAsyncContextManager[None] | None:
        if not _may_repl(actor):
            return None
        return actor_lifetime(actor)

    async def actor_crashed(self, actor: Actor, exc: BaseException) -> BaseException | None:
        """The crash REPL; a user's quit there replaces the crash (what to report)."""
        if not actor.debug_mode:
            return None  # no crash REPL outside debug mode (what crash_hook says too)
        from .post_mortem import crash_hook

        return await crash_hook(actor, exc)

    def quit_left_the_tree(self, actor: Actor, path: str) -> None:
        """A quit of this tree's user that ended another tree's call: the root ends
        the tree as on any quit (``lock.end_tree_by_quit``; asked from a child)."""
        if actor.is_root:
            actor.end_by_quit(path)
            return
        from . import tree_lock

        actor.start_service_soon(tree_lock.end_tree_by_quit, actor, path)

    def actor_cancelling(self, actor: Actor, reason: str) -> None:
        """A SIGTERM to the root (`docker stop`, systemd) while the tree's REPLs wait
        for `devx attach` with nobody attached ends those waits, as a SIGINT does:
        before the cancel reaches the lock's own calls, which end the holds."""
        if actor.is_root and reason == CANCELLED_BY_SIGTERM:
            sigint = sys.modules.get(__package__ + ".sigint")  # (loaded by the lifetime)
            if sigint is not None:
                sigint.end_unattended(actor, "SIGTERM")

    def modules_loaded(self, actor: Actor) -> None:
        """A debug tree's child ran its modules' top level after its hooks: the
        ``breakpoint()`` remap is taken back from a hook set there, as the root's is."""
        if actor.is_root or not _may_repl(actor):
            return
        from . import breakpoint_hook  # (loaded already: a debug tree's child preloads it)

        if actor.debug_mode:
            breakpoint_hook.take_back()
        elif actor.config.debug_tree:
            breakpoint_hook.take_back(plain=True)

    async def before_teardown(self, actor: Actor) -> bool:
        if not _may_repl(actor):
            return False
        from .wait import maybe_wait_for_debugger

        session = sys.modules.get(SESSION_MODULE)  # loaded by any REPL of this actor
        live = getattr(session, "current", None)
        if live is not None and live.pdb is not None and live.owned_by_current_task():
            # the user stepped (`n`) into this task's own teardown: waiting for the
            # REPL would wait for itself, so it ends here, as stepping out does
            live.pdb.step_out("stepped into the tree's teardown")
        # never cancel (or escalate against) an actor while a REPL is live in the tree
        return await maybe_wait_for_debugger(poll_steps=1)

    def teardown_waits(self, actor: Actor) -> bool:
        """What :meth:`before_teardown` would do now, looked at without waiting: wait
        while a REPL of this actor is live, or the tree's terminal is not settled."""
        if not _may_repl(actor):
            return False
        session = sys.modules.get(SESSION_MODULE)
        if getattr(session, "current", None) is not None:
            return True
        # (loaded by the lifetime of an actor that may REPL; a lookup, not an import
        # statement: its fromlist handling is most of this call's cost)
        tree_lock = sys.modules.get(TREE_LOCK_MODULE)
        return tree_lock is None or tree_lock.view.settle_left() > 0

    def preload_for(self, spec: Any, env: Mapping[str, str]) -> None:
        """What an actor of a debug tree (or in debug mode) imports at boot, once for
        all forked children: the zygote loads it before forking the first of them, as
        that child would (a default actor's boot loads none of it, so a tree that
        never debugs never pays for it); a debug-mode actor's greenback too (its
        portals). Not pdbp: it imports readline, whose set-up reads the terminal it
        starts on (each actor warms pdbp up itself, after its boot)."""
        if not (spec.config.debug_mode or spec.config.debug_tree):
            return
        from . import (  # noqa: F401
            breakpoint_hook,
            held_output,
            lock,
            lock_file,
            pdb_habits,
            quit_report,
            repl,
            session,
            sigint,
            terminal,
            tree_lock,
            wait,
        )

        if spec.config.debug_mode:
            import greenback  # noqa: F401


HOOK = DebugHook()


def _may_repl(actor: Actor) -> bool:
    """Whether a REPL can open in ``actor``'s tree while it lives, so it must follow
    (or, the root, serve) the TTY lock: the root (it serves the lock even when only
    some children run in debug mode), a debug-mode actor, any actor of a debug tree."""
    return bool(actor.is_root or _debugging(actor))


@asynccontextmanager
async def actor_lifetime(actor: Actor) -> AsyncIterator[None]:
    # what every actor that may REPL needs from its boot: the lock's view, its
    # terminal state, ctrl-c handling (none of them imports the REPL's session)
    from . import held_output, quit_report, sigint, terminal, tree_lock
    from . import lock as tty_lock
    from . import wait as _wait  # noqa: F401  (before_teardown's: no import in a teardown)

    if _debugging(actor):  # a pause can come from any task at once: all loaded now
        from . import breakpoint_hook, lock_file, pdb_habits, repl, session  # noqa: F401

        quit_report.install_thread_hook(actor.path)  # a `q` in a thread's REPL

    tree_lock.start(actor)
    # a REPL of the tree blocks its actor's loop, which then reads nothing: a peer
    # sending to it is not given up meanwhile (a REPL is a user's time)
    unexcuse = ipc.excuse_stalls(lambda: tree_lock.view.state.hold_id != 0)
    saved_tty = None
    if actor.is_root:
        # the root serves the lock even when only some children run in debug mode
        saved_tty = terminal.save_tty()  # restored when a holder dies and at exit
        # ... and at a hard exit (a SIGTERM the root's REPL kept its loop from taking)
        unregister_tty = lifeline.before_hard_exit(lambda _: terminal.restore_tty(saved_tty))
        lock = tty_lock.TTYLock(on_change=tree_lock.view.update, saved_tty=saved_tty)
        tty_lock.install(lock)
        actor.enable_module("devx.debug.lock")
        actor.enable_module("devx.debug.sigint")
        actor.enable_module("devx.debug.held_output")  # children's kept lines
        if _debugging(actor):
            await actor.start_service(sigint.serve_presses, actor)  # children's ctrl-c
        await actor.start_service(_publish_lock, actor, lock)  # for `devx ps`, `waiters`
        # every tree, debug or not, for `devx ps`: advertised by a helper thread once
        # its first child process started or within 0.05 s, so a root whose loop
        # blocks before its first spawn (sync work, a pause, a hang) is listed all the same
        from . import tree_file

        await actor.start_service(tree_file.publish, actor)
        quit_report.install(actor.path)
        if settings.current().attach:  # (its SIGINT handler asks who is attached)
            from . import attach
    elif _debugging(actor):
        await actor.start_service(tree_lock.follow_root, actor)
    prev = sigint.install(actor) if (actor.is_root or actor.debug_mode) else None
    habits = False
    if actor.debug_mode:
        prev_hook = breakpoint_hook.install()
        habits = pdb_habits.install("door")  # pdb.set_trace() & co. as breakpoint()
    elif actor.config.debug_tree and not actor.is_root:  # no lock for it: refused
        prev_hook = breakpoint_hook.install(plain=True)
        habits = pdb_habits.install("refuse")
    else:
        prev_hook = None
    cancel_warm_up = repl.warm_up() if actor.debug_mode else None
    try:
        async with _greenback_portals(actor):
            yield
    finally:
        # a root outside debug mode loads the session only when a REPL opens in it
        session_mod = sys.modules.get(SESSION_MODULE)
        if session_mod is not None:
            await session_mod.wait_for_thread_repl()  # (a thread's REPL outlives a cancel)
            await session_mod.drain_released()
        if not actor.is_root and _debugging(actor):
            # what it kept while another actor's REPL is live: the root writes it
            # once that REPL is over (before this view is reset, opening the gate)
            await held_output.hand_to_root(actor)
        if cancel_warm_up is not None:
            cancel_warm_up()
        if prev_hook is not None:
            # a child's process ends with its actor: what runs after (atexit) must not
            # open a bare pdb on the tree's terminal
            breakpoint_hook.restore(prev_hook, ended_child="" if actor.is_root else actor.path)
        if habits:
            pdb_habits.restore(habits, ended_child="" if actor.is_root else actor.path)
        sigint.restore(prev)
        unexcuse()
        if actor.is_root:
            tty_lock.install(None)
            unregister_tty()
            terminal.restore_tty(saved_tty)
            if settings.current().attach:  # its REPLs waited for `devx attach`
                from . import attach

                attach.forget_tree(actor.uid.uuid)


SESSION_MODULE = "devx.debug.session"
TREE_LOCK_MODULE = "devx.debug.tree_lock"


def _debugging(actor: Actor) -> bool:
    """A debug-mode actor, or any actor of a debug tree."""
    return bool(actor.debug_mode or actor.config.debug_tree)


async def _publish_lock(actor: Actor, lock: Any, task_status: Any = None) -> None:
    """The lock's state file (:func:`lock_file.publish`) from the moment the tree
    debugs: that writes nothing before (a debug tree, or a first request for the
    terminal), so a tree that never debugs never loads it (JSON, the runtime
    directory's code)."""
    if task_status is not None:
        task_status.started()
    while not (_debugging(actor) or lock.state.seq > 0):
        await lock.changed()
    from . import lock_file

    await lock_file.publish(actor, lock)


def _greenback_portals(actor: Actor) -> AbstractAsyncContextManager[Any]:
    """Portals for ``breakpoint()``/``pause_from_sync()`` on trio tasks in a
    debug-mode actor (``maybe_enable_greenback`` is implied, still accepted): for the
    task entering the hook (the root's main task, whose body runs inside it) and
    every task started under it afterwards (RPC calls, user nurseries), not the
    runtime's service tasks started before (they never run user code). A portal is
    needed before the pause: a task cannot get one in the middle of a step. Cost per
    task and per step: bench/bench_greenback.py."""
    if not actor.debug_mode:
        return nullcontext()
    try:
        import greenback
    except ImportError:  # a dependency of devx: only a broken install lacks it
        log.warning("greenback is not installed: breakpoint() on a task will not work")
        return nullcontext()
    return greenback.portals_for_tree()
