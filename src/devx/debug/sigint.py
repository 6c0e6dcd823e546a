"""SIGINT while debugging. ctrl-c reaches every process of the terminal's process
group at once, so each actor decides for itself:

- the actor whose prompt is on screen: shielded; the REPL says so and prompts
  again (the only place that message is ever shown);
- the actor holding the TTY lock with no prompt on screen (a step runs): one line
  saying what the tree waits for (holder, waiters); the root counts such presses
  (a child holder reports them) and three within 2 s end the tree as one ctrl-c
  with no REPL would: the root closes the lock (no teardown waits on the
  terminal, no REPL opens on the way out), and a child that cannot take the
  cancel (stuck in sync code) is SIGTERMed after the grace, then SIGKILLed;
- the root, while a child holds the TTY lock: silent (the holder speaks);
- the root with no REPL anywhere: trio's usual KeyboardInterrupt, which tears the
  tree down over IPC;
- any other child: ignored, the root cancels it.

A child reports a press with a datagram to the root's ``press-<uuid>.sock`` in the
private runtime directory, sent from its signal handler: it arrives even when the
child's loop is blocked in sync code (the step that holds the terminal is stuck),
where a report through the loop would never leave.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import trio

from ..runtime.actor import Actor
from . import terminal, tree_lock
from .lock_protocol import LockState
from .waiters import shielded_text

__tracebackhide__ = True

log = logging.getLogger("devx.debug")

Handler = Callable[[int, FrameType | None], Any] | int | None


def install(actor: Actor) -> Handler:
    """Install the REPL-aware handler; returns the previous one for :func:`restore`."""
    prev = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        _on_sigint(actor, prev, signum, frame)

    signal.signal(signal.SIGINT, handler)
    return prev


def restore(prev: Handler) -> None:
    if prev is not None:
        signal.signal(signal.SIGINT, prev)


# ctrl-c presses with no prompt on screen while the tree waits on the terminal, as
# the root counts them (its own, and those its holding child reports): ESCAPE_PRESSES
# within ESCAPE_WINDOW_S end the tree as a ctrl-c with no REPL would
ESCAPE_PRESSES = 3
ESCAPE_WINDOW_S = 2.0
_presses: collections.deque[float] = collections.deque(maxlen=ESCAPE_PRESSES)
_forced = False  # the next SIGINT of the root ends the tree (see no_prompt_press)
_escaped_hold = 0  # a child's hold whose holder counted the third press itself
# the root was interrupted while its tree's REPLs waited for `devx attach` with nobody
# attached: the tree ends with no REPL (a wait for a client in the root ends on it)
_unattended_end = False


def unattended_end() -> bool:
    return _unattended_end


def mark_unattended() -> None:
    """The root's own REPL gave up its wait for `devx attach` on a SIGTERM (said
    there): the tree ends with no REPL, as after :func:`end_unattended`."""
    global _unattended_end
    _unattended_end = True


def escaped(hold_id: int) -> bool:
    """Whether this actor's hold ``hold_id`` saw the third ctrl-c with no prompt on
    screen: the tree ends, its step's stop must not prompt."""
    return hold_id != 0 and hold_id == _escaped_hold


def _on_sigint(actor: Actor, prev: Handler, signum: int, frame: FrameType | None) -> None:
    global _forced
    # no import in a signal handler: a REPL's session module is loaded by the REPL
    # (the root of a tree that has not debugged yet has none)
    live = getattr(sys.modules.get("devx.debug.session"), "current", None)
    if live is not None and getattr(live.pdb, "switching", False):
        return  # its REPL gave the terminal away (`switch`): the one on screen speaks
    if live is not None and live.pdb is not None and live.pdb.live:
        os.write(1, terminal.fit(f"\n{shielded_text(actor.path)}\n", terminal.columns(1)).encode())
        if live.repl_thread in (None, threading.get_ident()):
            raise KeyboardInterrupt  # pdb's command loop catches it and prompts again
        # a REPL in another thread (raising here would hit the trio loop) reads on:
        # its prompt again, with what was typed so far (still in readline's buffer);
        # none while it runs a command (pdb prompts once the command is done)
        if getattr(live.pdb, "reading", False):
            _prompt_again(live.pdb)
        return
    state = tree_lock.view.state
    if actor.is_root and _forced:
        _forced = False
        _end_tree(prev, signum, frame)
        return
    if actor.is_root and (live is not None or state.busy) and _nobody_attached(actor):
        # the tree's REPLs wait for `devx attach` and nobody is attached: no person is
        # at a REPL, so a SIGINT (`kill -INT`, a CI's cancel, the pytest plugin's hang
        # clock) ends the tree as with no REPL; none opens on the way out
        global _unattended_end
        _unattended_end = True  # (a wait for a client in this process ends on it)
        _say_unattended(actor, state)
        if live is not None:
            live.abandon()
        _close_soon(actor)
        _end_tree(prev, signum, frame)
        return
    if live is not None and live.grant is not None:
        # this actor holds the terminal, with no prompt on screen (a step runs); its
        # view of the lock may predate its own grant (the loop is blocked)
        _say_waiting(actor, state, holder=f"{actor.path} (pid {actor.pid})")
        if not actor.is_root:
            _report_press(actor, live)
            if _count_press():
                # the root ends the tree on this same press, but its answer (the lock
                # closed) reaches this actor only through its loop, which the step may
                # keep blocked until it stops at its next line: that stop opened a
                # prompt the teardown then SIGKILLed. The stop is dropped instead
                # (PdbREPL.interaction); the hold is left to the root's answer, so
                # that no release overtakes this press and grants a waiter its REPL
                global _escaped_hold
                _escaped_hold = live.hold_id
        elif _count_press():
            live.abandon()
            _close_soon(actor)
            _end_tree(prev, signum, frame)
        return
    if not actor.is_root:
        return
    if live is not None or state.busy:
        if state.hold_id == 0 and live is None:  # queued, nobody holds: say why
            _say_waiting(actor, state)
            if _count_press():
                _close_soon(actor)
                _end_tree(prev, signum, frame)
        return  # a child holds it: that child speaks (its prompt, or its step)
    _end_tree(prev, signum, frame)


def _nobody_attached(actor: Actor) -> bool:
    """The tree's REPLs wait for `devx attach` (attach mode, no terminal) and no
    client is attached now. (No import in a signal handler: the root of an attach
    mode tree loads the module at boot.)"""
    attach = sys.modules.get("devx.debug.attach")
    if attach is None:
        return False
    try:
        return bool(attach.waits_for_client() and attach.attached_client(actor.uid.uuid) is None)
    except Exception:  # (a signal handler: never raise from here)
        return False


def _say_unattended(actor: Actor, state: LockState, what: str = "interrupted") -> None:
    known = state.holder
    who = f"{known.path}'s REPL" if known is not None else "a REPL"
    text = (
        f"[devx] {actor.path}: {what} while {who} waited for `devx attach` with "
        "nobody attached: the tree ends, no REPL opens\n"
    )
    os.write(1, terminal.fit(text, terminal.columns(1)).encode())


def end_unattended(actor: Actor, what: str) -> bool:
    """The root is ending its tree from outside (``what``: a SIGTERM, from `docker
    stop`, systemd, a CI's kill) while its REPLs wait for `devx attach` with nobody
    attached: no person is at a REPL, so the tree ends as on a SIGINT then, at once,
    with no REPL on the way out (the lock closes: each wait ends within its poll,
    where the escalation SIGTERMed, then SIGKILLed, an actor blocked in its wait).
    On the root's loop; True when it ended them."""
    global _unattended_end
    if _unattended_end or not actor.is_root or not _nobody_attached(actor):
        return False
    from . import lock as tty_lock

    lock = tty_lock.root_lock()  # (the lock itself: the view may not have its last grant yet)
    live = getattr(sys.modules.get("devx.debug.session"), "current", None)
    if live is None and not lock.busy:
        return False
    _unattended_end = True
    _say_unattended(actor, lock.state, what)
    if live is not None:
        live.abandon()
    lock.close()
    return True


def _prompt_again(pdb: Any) -> None:
    """Draw a thread REPL's prompt again under the shield's line, as pdb does after
    its own KeyboardInterrupt (no import here: readline is loaded by the REPL)."""
    readline = sys.modules.get("readline")
    typed = ""
    if readline is not None:
        with contextlib.suppress(Exception):
            typed = readline.get_line_buffer()
    os.write(1, f"{getattr(pdb, 'prompt', '')}{typed}".encode())


def _end_tree(prev: Handler, signum: int, frame: FrameType | None) -> None:
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        raise KeyboardInterrupt


def _say_waiting(actor: Actor, state: LockState, holder: str = "") -> None:
    known = state.holder
    who = holder or (f"{known.path} (pid {known.pid})" if known else "nobody yet")
    text = (
        f"\n[devx] ctrl-c: no prompt is on screen; the terminal is held by {who},\n"
        f"       {state.waiting} REPL(s) waiting as last known ({ESCAPE_PRESSES} ctrl-c within "
        f"{ESCAPE_WINDOW_S:g} s end the tree)\n"
    )
    os.write(1, terminal.fit(text, terminal.columns(1)).encode())


def _count_press() -> bool:
    """One more press with no prompt on screen; True: the escape hatch fires."""
    now = time.monotonic()
    _presses.append(now)
    if len(_presses) == ESCAPE_PRESSES and now - _presses[0] <= ESCAPE_WINDOW_S:
        _presses.clear()
        return True
    return False


def _close_soon(actor: Actor) -> None:
    """The root's lock closes (see :meth:`TTYLock.close`), on its loop: a signal
    handler may have interrupted the lock's own code."""
    from . import lock as tty_lock

    token = actor.trio_token
    if token is not None:
        with contextlib.suppress(trio.RunFinishedError, RuntimeError):
            token.run_sync_soon(tty_lock.root_lock().close)


def press_path(root_uuid: str, *, create: bool = False) -> str | None:
    """The root's press socket, in the private runtime directory (None: none). (The
    registry module is loaded by then in a signal handler's actor: a debugging one.)"""
    from .stack import registry as reg

    base = reg.runtime_dir(create=create)
    return None if base is None else os.path.join(base, f"press-{root_uuid[:16]}.sock")


def _report_press(actor: Actor, live: Any) -> None:
    """A child holding the terminal with no prompt: the root counts its presses
    (it cannot tell a child's prompt from its step) and says when to give up. A
    datagram from here, in the signal handler, so a loop blocked in sync code does
    not keep it; through the loop (an RPC) only when there is no socket to send to.
    The root's answer comes as its lock state (closed: :meth:`Session.abandon`)."""
    path = press_path(actor.root_uid.uuid)
    if path is not None:
        from .attach_protocol import unix_address

        data = str(live.hold_id).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                unix_address(path, lambda addr: sock.sendto(data, addr))
            return
        except OSError:
            pass
    token = actor.trio_token
    if token is None:
        return
    hold_id = live.hold_id

    async def report() -> None:
        with trio.move_on_after(2):
            portal = await actor.root_portal()
            await portal.run_from_ns("devx.debug.sigint", "no_prompt_press", hold_id=hold_id)

    def spawn() -> None:
        if actor._service is not None:
            actor._service.start_soon(report)

    try:
        token.run_sync_soon(spawn)
    except trio.RunFinishedError:
        pass


async def serve_presses(actor: Actor, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """The root's service task: the presses its children report (see
    :func:`_report_press`), each counted by :func:`no_prompt_press`, and the stop
    lines their REPLs move to (:mod:`.stop_moves`): what a holder says while its loop
    may be blocked."""
    from . import stop_moves
    from .attach_protocol import unix_address

    path = press_path(actor.uid.uuid, create=True)
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        if path is None:
            raise OSError("no private runtime directory")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        unix_address(path, raw.bind)  # (a runtime directory's path may be long)
    except OSError as exc:
        raw.close()
        log.debug("no press socket (%s): children report ctrl-c through their loop", exc)
        task_status.started()
        return
    sock = trio.socket.from_stdlib_socket(raw)
    task_status.started()
    try:
        await trio.to_thread.run_sync(_prune_dead, path)
        while True:
            data = await sock.recv(4096)
            if stop_moves.received(data):
                continue
            with contextlib.suppress(ValueError):
                no_prompt_press(int(data))
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)


def _prune_dead(mine: str) -> None:
    """Remove the press sockets of roots that died without removing theirs (killed):
    nothing is bound to them any more, so a connect is refused."""
    from .attach_protocol import unix_address

    base = os.path.dirname(mine)
    for fname in os.listdir(base):
        full = os.path.join(base, fname)
        if not (fname.startswith("press-") and fname.endswith(".sock")) or full == mine:
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            try:
                unix_address(full, probe.connect)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    os.unlink(full)
            except OSError:
                pass


@trio.lowlevel.enable_ki_protection  # the interrupt goes to the main task, as a ctrl-c
def no_prompt_press(hold_id: int) -> bool:
    """RPC, in the root: the holder of ``hold_id`` saw a ctrl-c with no prompt on
    screen. The third within the window ends the tree through the root's own
    SIGINT path (as one ctrl-c with no REPL would)."""
    global _forced
    from . import lock as tty_lock

    lock = tty_lock.root_lock()
    # (a holder that counted its own third press released its hold as `cancelled`,
    # maybe before its press reached this socket)
    if hold_id not in (tree_lock.view.state.hold_id, lock.last_cancelled):
        return False
    if not _count_press():
        return False
    lock.close()  # the holder sees it closed: it abandons its step
    _forced = True
    os.kill(os.getpid(), signal.SIGINT)
    return True
