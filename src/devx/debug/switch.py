"""``switch PATH|N`` in a REPL: give the terminal to a waiting REPL now, as gdb
switches threads.

The REPL that switches stays stopped at its line (its pdb, frame and locals are
untouched: its command loop just waits) and is queued right behind the one it names,
ahead of everyone else, so the terminal comes back to it when that one is done (its
``c``, ``q``, or a step that gives the terminal up). The others keep their FIFO
order. The wait runs on the actor's loop (a greenback portal for a task's REPL, the
loop's token for a thread's), so the actor goes on serving while it waits. The hold
that switched ends as ``switched`` (``devx.tty_lock.switched_to`` names who got it).
In a REPL reached by ``devx attach`` the client follows the terminal: it is told
``switched``, takes the named REPL (which listens on the tree's attach socket once
granted) and then this one again, at the same line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import trio

from . import door, terminal, tree_lock
from .lock_protocol import LockRequest
from .waiters import code_location, who

__tracebackhide__ = True

T = TypeVar("T")

USAGE = "usage: switch N|PATH (N as `waiters` numbers the waiting REPLs, PATH a tree path)"


def pick(waiters: Sequence[LockRequest], arg: str) -> LockRequest | str:
    """The waiter ``arg`` names (its number in ``waiters``, its tree path, or the
    last part of it), or why none."""
    arg = arg.strip()
    if not arg:
        return USAGE
    if not waiters:
        return "nobody waits for the terminal"
    if arg.isdigit():
        n = int(arg)
        if 1 <= n <= len(waiters):
            return waiters[n - 1]
        return f"no waiter {n}: {len(waiters)} waiting (see `waiters`)"
    found = [w for w in waiters if w.requester.path == arg] or [
        w for w in waiters if w.requester.path.rsplit("/", 1)[-1] == arg
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        return f"no REPL of {arg!r} waits for the terminal (see `waiters`)"
    return f"{len(found)} waiting REPLs match {arg!r}: switch by number (see `waiters`)"


def _runner(actor: Any) -> Callable[[Callable[[], Awaitable[T]]], T] | str:
    """How this REPL's code waits on the actor's loop, or why it cannot."""
    from .repl import current_task

    if current_task() is not None:
        import greenback

        if not greenback.has_portal():
            return "this task has no greenback portal"
        return lambda fn: greenback.await_(fn())
    token = actor.trio_token
    if token is None:
        return "the actor's trio loop is not running"
    return lambda fn: trio.from_thread.run(fn, trio_token=token)


async def _shielded(fn: Callable[[], Awaitable[T]]) -> T:
    """``fn()`` in the REPL's task, out of reach of that task's own cancel: the task's
    scope may be cancelled while the user reads the REPL (a deadline around the code
    being debugged passed), and that cancel raised out of the `switch` command left
    the REPL in the stdlib when the terminal came back ('--Call--' in <frozen abc>).
    It stays pending: the code takes it once the REPL is left, as it would have."""
    with trio.CancelScope(shield=True):
        got = await fn()
    return got


async def _granted_or_ended(nxt: Any) -> None:
    """Until the terminal comes back to ``nxt`` or its hold ends without it (the
    actor's service nursery cancelled: then the wait is left to take that cancel)."""
    async with trio.open_nursery() as n:

        async def first(wait: Callable[[], Awaitable[Any]]) -> None:
            await wait()
            n.cancel_scope.cancel()

        n.start_soon(first, nxt.granted.wait)
        n.start_soon(first, nxt._finished.wait)


def switch(pdb: Any, arg: str) -> bool:
    """The ``switch`` command of ``pdb``; True when its REPL ends (a user quit the
    tree meanwhile)."""
    from .repl import live_lock_state

    session = pdb.session
    if session is None or session._done or not pdb.is_owner():
        pdb.error("switch: this REPL does not hold the terminal")
        return False
    target = pick(live_lock_state(session.hold_id).waiters, arg)
    if isinstance(target, str):
        pdb.error(f"switch: {target}")
        return False
    run = _runner(session.actor)
    if isinstance(run, str):
        pdb.error(f"switch: cannot wait for the terminal here: {run}")
        return False
    # from here until the terminal comes back this REPL's command loop runs on, but
    # its prompt is not on screen: ctrl-c is the other REPL's (devx.debug.sigint)
    pdb.switching = True
    try:
        return _switch(pdb, session, target, run)
    finally:
        pdb.switching = False


def _switch(pdb: Any, session: Any, target: LockRequest, run: Any) -> bool:
    from . import session as session_mod

    # said first: once the root agrees, the other REPL's banner comes at once
    head = f"[devx] the terminal goes to {who(target.requester)};"
    tail = f"{session.where} stays stopped here and has it back when that REPL is done"
    # (two lines when one would pass the terminal's width, at most 100: terminal.width)
    width = terminal.width(pdb.stdout)
    one = len(head) + 1 + len(tail) <= width
    text = f"{head} {tail}" if one else f"{head}\n       {tail}"
    pdb.message(terminal.fit(text, terminal.columns(pdb.stdout)))
    # a REPL reached by `devx attach`: the tree's one attach socket goes to the REPL
    # named (it listens there once granted) and the client follows it; this one
    # listens again when the terminal comes back
    attached = session.attached if pdb.stdin is session.attached else None
    if attached is not None:
        attached.stop_listening()
    here = code_location(pdb.curframe) if pdb.curframe is not None else ""
    nxt, reply = run(lambda: _shielded(lambda: session.switch_to(target, here)))
    if nxt is None:
        if attached is not None:
            try:
                attached.listen()
            except OSError as exc:  # the client stays; a new one could not attach
                pdb.error(f"switch: cannot listen for `devx attach` again: {exc}")
        pdb.error(f"switch refused: {reply.refused}; this REPL goes on")
        return False
    if attached is not None:
        attached.close("switched")
    run(lambda: _shielded(lambda: _granted_or_ended(nxt)))
    if not nxt.granted.is_set():  # its hold ended without it: as before, unshielded
        run(nxt.granted.wait)
    door.bind(pdb, nxt)
    session_mod.current = nxt
    frame = pdb.curframe
    quit_by = tree_lock.quit_by(nxt.grant)
    if quit_by:
        pdb.message(f"[devx] the user quit the REPL of {quit_by}: this one ends as with 'q'")
        pdb.quit_as = quit_by  # that REPL's quit, not one typed here
        return bool(pdb.do_quit(""))
    back = f"{code_location(frame)} (back from the switch to {reply.to})"
    if attached is None:
        nxt.announce(back)
    else:
        from . import attach

        io = attach.serve(nxt, back)  # the same wait (and deadline) as any stop's
        if io is None:
            return bool(pdb.do_continue(""))  # nobody came: as without a terminal
        io.serve_pdb(pdb, nxt.announce(back, out=io.write))
    nxt.repl_started(frame)
    pdb.print_stack_entry(pdb.stack[pdb.curindex])
    return False
