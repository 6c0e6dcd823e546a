"""An actor that ends while another actor's REPL is live hands the devx output it kept
back (e.g. the line of a stack dump taken during that REPL) to the root, which writes
it through its own gate once the tree's terminal is free.

Written by the ending actor itself, it would land under that REPL's prompt: at its
teardown its view of the lock is reset (its gate opens as if the tree were idle) and
its exit drains what is left whatever the gate says. Waiting for the REPL instead
would keep the actor (and whoever cancels it, e.g. ``portal.cancel_actor()``) until
the user leaves the REPL."""

from __future__ import annotations

import logging

import trio

from ..core import settings
from ..runtime import console
from ..runtime.actor import Actor
from ..runtime.errors import ChannelClosed, RemoteActorError
from . import tree_lock

log = logging.getLogger("devx.debug")

MODULE = __name__


async def hand_to_root(actor: Actor) -> None:
    """In an ending child: what its gate kept while a REPL is live in the tree goes to
    the root. The root gone (or not answering within ``DEVX_CANCEL_GRACE``, its loop
    blocked): kept here and written at this process's exit, as before (nothing lost;
    if the root answers later it may be written twice)."""
    if actor.is_root or not tree_lock.view.held or not console.kept():
        return
    holder = tree_lock.view.state.holder
    if holder is not None and "/" not in holder.path:
        # the root's own REPL: its loop is blocked until it ends, so the call would
        # wait out the grace and the root then write the text a second time
        return
    entries = console.take()
    if not entries:
        return
    with trio.CancelScope(shield=True), trio.move_on_after(settings.current().cancel_grace):
        try:
            portal = await actor.root_portal()
            await portal.run_from_ns(MODULE, "write_kept", entries=[list(e) for e in entries])
            return
        except (ChannelClosed, OSError, RemoteActorError, trio.TooSlowError) as exc:
            log.debug("actor %s could not hand its held output to the root: %s", actor.path, exc)
    for name, text in entries:  # kept again: written at the exit (console.drain)
        console.write(text, stream=name)


def write_kept(entries: list[list[str]]) -> None:
    """RPC, in the root: a child's kept output, written through the root's gate (held
    while a REPL is live in the tree, written once it is free)."""
    for name, text in entries:
        console.write(text, stream="stdout" if name == "stdout" else "stderr")
