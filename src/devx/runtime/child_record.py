"""ChildRecord: what a parent knows about one child actor process, and how it stops
it (graceful cancel over IPC, then SIGTERM, then SIGKILL; always bounded)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ..core import events, schema, settings
from . import lifeline
from .errors import ActorExited, ChannelClosed
from .ipc import Channel, encode
from .msgs import ActorID, CancelActor
from .spawn import ChildProcess

if TYPE_CHECKING:
    from .portal import Portal

log = logging.getLogger("devx.runtime")

# SIGTERM to SIGKILL. A child whose loop is blocked ends itself within
# lifeline.REACT_WAIT + HARD_EXIT_BUDGET (1.5 s) of the SIGTERM (its children killed,
# its telemetry flushed, a line on stderr naming it and why, exit 143); one whose loop
# runs but whose cancel waits for its own blocked child passes the SIGTERM on and ends
# within REACT_WAIT + 2 x HARD_EXIT_BUDGET (2 s: the child's flush, then its own).
# The SIGKILL is for one that could not even do that (SIGTERM masked, its main thread
# stuck in C code); 0.5 s of margin for a busy machine
TERM_GRACE = 2.5
assert TERM_GRACE >= lifeline.REACT_WAIT + 2 * lifeline.HARD_EXIT_BUDGET + 0.5
CANCEL_REASON = "cancelled by parent"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_exit(code: int | None, unknown: str | None = None) -> str:
    """How a process ended, for error messages; ``unknown``: why its exit status
    cannot be known (``code`` is then a placeholder)."""
    if unknown is not None:
        return f"exited; its exit status is unknown: {unknown}"
    if code is None:
        return "is still running"
    if code < 0:
        return f"was killed by {signal_name(-code)} (exit code {code})"
    if code == 128 + signal.SIGTERM:  # a devx actor's end on a SIGTERM, graceful or hard
        return f"exited with code {code} (its end on a SIGTERM)"
    return f"exited with code {code}"


class ChildRecord:
    """Everything the parent knows about one child actor process."""

    def __init__(
        self,
        name: str,
        uid_uuid: str,
        path: str,
        fn: tuple[str, str] | None,
        before_escalate: Callable[[], Awaitable[bool]] | None = None,
    ):
        # awaited before SIGTERM-ing a child that ignored a cancel request: the
        # debug layer waits there while a REPL is live in the tree
        self.before_escalate = before_escalate
        self.name = name
        self.uuid = uid_uuid
        self.path = path
        self.fn = fn
        self.kwargs: dict[str, Any] = {}
        self.inherit_main = True  # the child may load the root's script (__main__)
        self.infect_asyncio = False  # the child runs trio as asyncio's guest
        self.proc: ChildProcess | None = None  # a trio.Process, or forked by the zygote
        self.chan: Channel | None = None
        self.portal: Portal | None = None
        self.exit_code: int | None = None
        # why exit_code is only a placeholder (the fork server died before it could
        # report it): the exit is known, its status is not
        self.exit_unknown: str | None = None
        self.exited = trio.Event()
        # called once the exit is recorded (what waits for it without a task of its
        # own: its boot's waits, a nursery's teardown hooks)
        self.on_exit: list[Callable[[], None]] = []
        # where stop() puts the process once the child announced its exit (set by a
        # nursery whose block is over: its owner reaps them before it returns)
        self.reap_later: list[ChildRecord] | None = None
        self.cancel_requested = False
        self._cancel_sent = False  # the cancel request went out (cancel_nowait)
        self.signalled: int | None = None  # the signal this parent sent it, if any
        self.done = trio.Event()  # run_in_actor outcome known
        self.outcome: tuple[bool, Any] | None = None  # (ok, value | exception)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __repr__(self) -> str:
        return f"<child {self.path} pid={self.pid}>"

    def died_unasked(self) -> bool:
        """Killed by a signal this parent never sent: a death nobody asked for, even
        when it came while a cancel was under way (the block had just ended)."""
        code = self.exit_code
        return code is not None and code < 0 and self.signalled is None

    def gone_error(self) -> BaseException:
        """Why the child is unreachable: it died (with its exit code) or was cancelled."""
        if self.cancel_requested and not self.died_unasked():
            how = " and killed (SIGKILL)" if self.signalled == signal.SIGKILL else ""
            return ChannelClosed(f"actor {self.path!r} (pid {self.pid}) was cancelled{how}")
        if self.exit_code == 0 and self.exit_unknown is None:
            # a clean exit nobody here asked for, with calls or contexts still open on
            # its channel: it dropped that channel (lost it, or closed it) and ended
            how = (
                "ended by itself (exit code 0) while this actor still had calls or "
                "contexts with it: its channel to this actor closed first (it cancelled "
                "itself, or its connection to its parent broke)"
            )
        else:
            how = describe_exit(self.exit_code, self.exit_unknown)
        return ActorExited(
            f"actor {self.path!r} (pid {self.pid}) {how}"
            if self.exit_code is not None
            else f"actor {self.path!r} (pid {self.pid}) closed its connection unexpectedly",
            name=self.name,
            uid=ActorID(self.name, self.uuid),
            pid=self.pid or -1,
            exit_code=None if self.exit_unknown else self.exit_code,
        )

    def settle(self, ok: bool, value: Any) -> Any:
        """Record the one-shot function's outcome (the first one wins); returns
        ``value`` so an error can be raised in the same breath."""
        if self.outcome is None:
            self.outcome = (ok, value)
            self.done.set()
        return value

    async def wait_result(self) -> Any:
        await self.done.wait()
        assert self.outcome is not None
        ok, value = self.outcome
        if ok:
            return value
        raise value

    def cancel_nowait(self) -> None:
        """Ask the child to cancel now, from sync code, when its channel takes the
        request at once: a nursery's end asks every child before their supervisors
        wake up to :meth:`stop` them, so each child starts to unwind a scheduler pass
        or two sooner. :meth:`stop` still waits, escalates and records the exit."""
        proc, chan = self.proc, self.chan
        if proc is None or proc.returncode is not None or self._cancel_sent:
            return
        if chan is None or not chan.ready.is_set():
            return
        if chan.send_nowait(encode(CancelActor(reason=CANCEL_REASON))):
            self.cancel_requested = self._cancel_sent = True

    async def stop(self, timeout: float | None = None) -> bool:
        """Graceful cancel over IPC, then SIGTERM, then SIGKILL; wait for the exit.
        Shielded and bounded: always returns with the process gone."""
        proc = self.proc
        if proc is None:
            return True
        if proc.returncode is not None:  # died on its own: not a cancel
            self._record_exit()
            return True
        self.cancel_requested = True
        grace = settings.current().cancel_grace if timeout is None else timeout
        graceful = True
        chan = self.chan
        with trio.CancelScope(shield=True):
            if proc.returncode is None and chan is not None and chan.ready.is_set():
                with trio.move_on_after(0.5):
                    try:
                        if self._cancel_sent:
                            # its rest, if the socket took a part (the kernel takes a
                            # frame this small whole or not at all: in practice never
                            # there), cancellably as the send below: past the 0.5 s a
                            # task writes it (flush() would wait, shielded, up to the
                            # send stall bound for a child whose loop is blocked)
                            if chan.sending_rest:
                                await chan.send_raw(bytearray(), checkpoint=False)
                        else:
                            await chan.send(CancelActor(reason=CANCEL_REASON))
                            self._cancel_sent = True
                    except ChannelClosed:
                        pass
                with trio.move_on_after(grace):
                    if await self._wait_exit(proc, chan):
                        return True  # reaped by the nursery's owner
                # a child stopped in a REPL cannot take the cancel until its user
                # leaves it: the grace starts again after every wait for a REPL
                while proc.returncode is None and self.before_escalate is not None:
                    if not await self.before_escalate():
                        break
                    with trio.move_on_after(grace):
                        await proc.wait()
            if proc.returncode is None:
                # ignored the cancel request, or still booting and unable to take one
                graceful = False
                if chan is not None and chan.ready.is_set():
                    log.warning(
                        "actor %r (pid %s) still running %ss after cancel: SIGTERM",
                        self.path,
                        proc.pid,
                        grace,
                    )
                self.signalled = signal.SIGTERM
                proc.terminate()
                with trio.move_on_after(TERM_GRACE):
                    await proc.wait()
            if proc.returncode is None:
                # not even its own hard exit (lifeline.exit_now), which a blocked loop
                # gets to within TERM_GRACE: SIGTERM masked, or stuck in C code
                log.warning(
                    "actor %r (pid %s) still running %gs after SIGTERM: SIGKILL",
                    self.path,
                    proc.pid,
                    TERM_GRACE,
                )
                self.signalled = signal.SIGKILL
                proc.kill()
                await proc.wait()
            self._record_exit()
        return graceful

    async def _wait_exit(self, proc: ChildProcess, chan: Channel) -> bool:
        """Wait for the process to exit. With ``reap_later``, a subprocess child's
        announced exit will do (:class:`~devx.runtime.msgs.Exiting`, then its channel's
        end: its actor is done, it is in ``os._exit``): the exit is recorded with that
        code and the process left to be reaped later, so that the owner's own teardown
        runs beside the kernel's end of the child (~2 ms for an interpreter that
        imported trio) instead of after it. True then."""
        reaps = self.reap_later
        if reaps is None or not isinstance(proc, trio.Process):
            await proc.wait()
            return False

        def announced() -> bool:
            return chan.gone.is_set() and chan.exit_announced is not None

        if not announced():
            with trio.CancelScope() as scope:

                def gone() -> None:
                    if announced():
                        scope.cancel()

                chan.on_gone.append(gone)
                try:
                    await proc.wait()
                finally:
                    chan.on_gone.remove(gone)
        if proc.returncode is not None or not announced():
            await proc.wait()
            return False
        reaps.append(self)
        self._record_exit(announced=chan.exit_announced)
        return True

    async def reap(self) -> None:
        """Wait for the exit of a process whose child announced it (see
        :meth:`_wait_exit`): shielded, bounded (it is in its exit; SIGKILL after
        TERM_GRACE). A signal that ended it in its exit is logged."""
        proc = self.proc
        if proc is None:
            return
        with trio.CancelScope(shield=True):
            with trio.move_on_after(TERM_GRACE):
                await proc.wait()
            if proc.returncode is None:
                self.kill_now()
                await proc.wait()
        if proc.returncode != self.exit_code:
            log.warning(
                "actor %r (pid %s) said it exits with code %s, then %s",
                self.path,
                proc.pid,
                self.exit_code,
                describe_exit(proc.returncode),
            )

    async def kill(self) -> None:
        """The peer project's ``hard_kill``: SIGKILL at once, no graceful cancel asked
        (for a child that would not take one: its loop blocked in sync code), and wait
        for the exit. Its own children see it gone and stop themselves (the lifeline)."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            self.cancel_requested = True
            self.kill_now()
        with trio.CancelScope(shield=True):
            await proc.wait()
            self._record_exit()

    def kill_now(self) -> None:
        """Last resort (an interrupt while tearing down): SIGKILL without waiting."""
        if self.proc is not None and self.proc.returncode is None:
            self.signalled = signal.SIGKILL
            try:
                self.proc.kill()
            except OSError:
                pass

    def _record_exit(self, announced: int | None = None) -> None:
        """Record the exit: the process's status, or the code its child ``announced``
        (the process is still in its exit then)."""
        if self.proc is None or self.exited.is_set():
            return
        if announced is not None:
            self.exit_code = announced
        elif self.proc.returncode is None:
            return
        else:
            self.exit_code = self.proc.returncode
            self.exit_unknown = getattr(self.proc, "exit_unknown", None)
        self.exited.set()
        for callback in list(self.on_exit):
            callback()
        status: dict[str, Any] = {}  # none when it is unknown: no made-up code
        if self.exit_unknown is None:
            status[schema.CHILD_EXIT_CODE] = self.exit_code
            status[schema.CHILD_SIGNAL] = signal_name(-self.exit_code) if self.exit_code < 0 else ""
        events.event(
            schema.ACTOR_EXIT,
            **{
                schema.CHILD_PATH: self.path,
                schema.CHILD_PID: self.pid or -1,
                **status,
                schema.CHILD_CANCEL_REQUESTED: self.cancel_requested,
            },
        )
