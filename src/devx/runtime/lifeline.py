"""A child actor never outlives its parent, whatever the kill order.

A thread of its own (not the trio thread: the actor's loop may be stuck in sync code)
waits for the parent process to exit (and, the same thread, for a SIGTERM:
:func:`watch_sigterm`). On Linux the kernel tells it: a pidfd of the
parent becomes readable when the parent exits. Elsewhere it checks ``getppid()``
four times a second (the portable fallback).

A child forked by the fork server has the zygote as its OS parent, not its parent
actor: it watches a pipe instead (``parent_fd``), the read end of a pipe whose only
write end stays in the parent actor; end of file on it means the parent exited, in
any way (no pid to reuse, no race with the parent dying before we look).

Why not ``PR_SET_PDEATHSIG``: the kernel sends it when the *thread* that forked the
child exits, and trio forks from its worker-thread cache, whose threads retire after
being idle for a while: children would be killed while their parent lives on.

When the parent is gone: the actor is cancelled gracefully (as when its parent's
channel closes: telemetry flushed, its own children stopped); should the process
still be there ``grace`` seconds later (its loop is blocked), its own children are
SIGKILLed and it exits at once with :data:`EXIT_NO_PARENT`, saying so on stderr.

Every such hard exit (:func:`exit_now`) first runs the :func:`before_hard_exit` hooks
(the terminal's settings put back, the telemetry's open spans ended and flushed), on a
thread of their own, and waits for them at most :data:`HARD_EXIT_BUDGET`: a hook stuck
on a dead collector or a lock the blocked loop holds cannot keep the process alive.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import trio

from ..core import threads

EXIT_NO_PARENT = 3
SIGTERM = signal.SIGTERM
POLL_INTERVAL = 0.25  # the fallback's getppid() period, where pidfds are missing
# After a SIGTERM, how long the actor's loop has to *react* (run one callback: the
# cancel that starts its graceful end, which then takes what it takes), whatever the
# cancel grace (which is how long a cancel may take, not a loop to wake): a loop that
# has not run it by then is blocked (sync code, a REPL prompt), and the process ends
# itself. Short, so that it ends well within its parent's SIGTERM-to-SIGKILL wait
# (child_record.TERM_GRACE): its line on stderr, its telemetry flushed, exit 143,
# instead of a SIGKILL that leaves nothing. (An actor SIGTERMed while it is being
# cancelled passes the SIGTERM on to its children and gives them REACT_WAIT +
# HARD_EXIT_BUDGET, then its own hard exit takes up to HARD_EXIT_BUDGET: TERM_GRACE
# covers both.)
REACT_WAIT = 1.0
# What a hard exit gives its before_hard_exit hooks (all of them) before it ends the
# process anyway: a flush to a dead collector or a stuck file must not hold a hung
# process (nor let its parent's SIGKILL come first)
HARD_EXIT_BUDGET = 0.5


def react_wait(grace: float) -> float:
    """How long a loop has to react to a SIGTERM under a cancel grace of ``grace``
    (never longer than the grace itself: a short grace asks for a quick end)."""
    return min(grace, REACT_WAIT)


def start_time(pid: int) -> int:
    """When ``pid`` started (clock ticks after boot; 0 when there is no such process
    or no ``/proc``): with the pid, it names one process, where a pid alone may be
    reused once its process is reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


class _Watcher:
    """The one thread of a child that watches for its parent's exit and for SIGTERM
    (two threads cost every child a thread start at boot and a thread to end at its
    exit: ~0.6 ms of a teardown on a busy machine). Both are waited on in one
    ``select``; their grace periods run side by side."""

    def __init__(
        self,
        parent_pid: int | None,
        parent_fd: int | None,
        path: str,
        grace: Callable[[], float],
        cancel: Callable[[str], None],
        kill_children: Callable[[], None],
        term_children: Callable[[], list[int]] | None = None,
    ) -> None:
        self.parent_pid, self.parent_fd, self.path = parent_pid, parent_fd, path
        self.grace, self.cancel, self.kill_children = grace, cancel, kill_children
        self.term_children = term_children
        # SIGTERM's pipe: the handler (installed by watch_sigterm) writes a byte
        self.term_r, self.term_w = os.pipe()
        os.set_blocking(self.term_w, False)
        self.owner = os.getpid()
        self.on_term: _TermWatch | None = None  # set by watch_sigterm

    def run(self) -> None:
        parent = self._parent_fd()  # None: poll getppid() (or no parent to watch)
        # our parent at start? (it may have exited and its pid been reused before the
        # pidfd was opened: then we were reparented already; not for the lifeline
        # pipe, whose OS parent is the zygote)
        parent_gone = self.parent_fd is None and not self._parent_alive()
        polling = parent is None and self.parent_pid is not None
        parent_end = term_end = None  # deadlines (monotonic) of the two grace periods
        parent_why = ""
        term_wait, reacted = 0.0, threading.Event()
        term_seen = False
        # a SIGTERM while the actor was being cancelled, passed on to its children: the
        # process ends by this deadline (monotonic), by itself or here
        cascade_end: float | None = None
        cascade_wait = 0.0
        if parent_gone:
            parent_end, parent_why = self._parent_died()
        while True:
            fds = [self.term_r] + ([parent] if parent is not None and not parent_gone else [])
            now = time.monotonic()
            ends = [t for t in (parent_end, term_end, cascade_end) if t is not None]
            if polling and not parent_gone:
                ends.append(now + POLL_INTERVAL)
            timeout = max(0.0, min(ends) - now) if ends else None
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            if self.term_r in ready:
                for byte in os.read(self.term_r, 64):  # one byte a SIGTERM
                    if byte == _STOP:
                        return
                    watch = self.on_term
                    if watch is None:
                        continue
                    if term_seen:
                        why = "a second SIGTERM"
                        if not reacted.is_set() and cascade_end is None:
                            why += (
                                " before its loop reacted to the first (blocked in sync "
                                "code, or at a REPL prompt?)"
                            )
                        self._exit(watch, why, 128 + SIGTERM)
                    if watch.cancelled():
                        # the parent's escalation: its loop runs, but its end waits,
                        # most often for its own children, whose escalation (by this
                        # actor) comes at about the same time: SIGTERM them now, so that
                        # one whose loop is blocked ends itself (its react wait, its
                        # telemetry flushed) before this process ends and SIGKILLs it
                        if watch.term_children is not None and watch.term_children():
                            term_seen = True
                            cascade_wait = react_wait(watch.grace()) + HARD_EXIT_BUDGET
                            cascade_end = time.monotonic() + cascade_wait
                            continue
                        self._exit(watch, "SIGTERM while it was being cancelled", 128 + SIGTERM)
                    term_seen, term_wait = True, react_wait(watch.grace())
                    term_end = time.monotonic() + term_wait
                    try:
                        watch.token.run_sync_soon(_reacted, reacted, watch.cancel)
                    except trio.RunFinishedError:  # the loop is over: the process is ending
                        reacted.set()
            if not parent_gone and (
                (parent is not None and parent in ready and self._parent_read(parent))
                or (polling and not self._parent_alive())
            ):
                parent_gone = True
                if parent is not None and parent != self.parent_fd:
                    os.close(parent)  # the pidfd
                parent_end, parent_why = self._parent_died()
            now = time.monotonic()
            if term_end is not None and now >= term_end:
                term_end = None  # the loop took it: only a second SIGTERM is ours to act on
                if not reacted.is_set():
                    assert self.on_term is not None
                    self._exit(
                        self.on_term,
                        f"SIGTERM, and its loop did not react within {term_wait:g}s "
                        "(blocked in sync code, or at a REPL prompt?)",
                        128 + SIGTERM,
                    )
            if cascade_end is not None and now >= cascade_end:
                assert self.on_term is not None
                self._exit(
                    self.on_term,
                    f"SIGTERM while it was being cancelled, and it had not ended "
                    f"{cascade_wait:g}s later (its children were SIGTERMed too)",
                    128 + SIGTERM,
                )
            if parent_end is not None and now >= parent_end:
                self._exit(self, parent_why, EXIT_NO_PARENT)

    def _parent_fd(self) -> int | None:
        """What to wait on for the parent's exit: the lifeline pipe, else a pidfd of
        the parent (Linux); ``None``: poll ``getppid()``."""
        if self.parent_fd is not None:
            return self.parent_fd
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None or self.parent_pid is None:
            return None
        try:
            return int(pidfd_open(self.parent_pid))
        except OSError:  # gone already, or a kernel without pidfds
            return None

    def _parent_alive(self) -> bool:
        """Still our parent? (It may have exited and its pid been reused: then we were
        reparented already.)"""
        return self.parent_pid is None or os.getppid() == self.parent_pid

    def _parent_read(self, fd: int) -> bool:
        """``fd`` is readable: has the parent exited?"""
        if fd != self.parent_fd:
            return True  # a pidfd is readable once its process exited
        try:  # the lifeline pipe: nobody writes to it, only the EOF comes
            return not os.read(fd, 512)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _parent_died(self) -> tuple[float, str]:
        """Cancel the actor; returns when to exit if it has not by then, and why."""
        reason = f"its parent (pid {self.parent_pid}) died"
        try:
            self.cancel(reason)
        except Exception:
            pass
        wait = self.grace()
        return (
            time.monotonic() + wait,
            f"{reason} and it did not finish within {wait:g}s "
            "(its loop is blocked: sync code, or a REPL prompt?)",
        )

    def ask_to_end(self) -> bool:
        """End the watch (the process is exiting by itself): True if the thread will."""
        if self.owner != os.getpid():
            return False
        try:
            os.write(self.term_w, bytes([_STOP]))
        except OSError:  # a full pipe: SIGTERMs are pending, the thread has work
            return False
        return True

    def _exit(self, by: _Watcher | _TermWatch, why: str, code: int) -> None:
        """Exit now, ending the children ``by`` (the parent watch or the SIGTERM
        watch: each has its own ways to) knows."""
        exit_now(self.path, why, by.kill_children, code, term_children=by.term_children)


class _TermWatch:
    """What :func:`watch_sigterm` gives the watcher to act on a SIGTERM."""

    def __init__(
        self,
        grace: Callable[[], float],
        cancel: Callable[[], None],
        cancelled: Callable[[], bool],
        kill_children: Callable[[], None],
        token: trio.lowlevel.TrioToken,
        term_children: Callable[[], list[int]] | None = None,
    ) -> None:
        self.grace, self.cancel, self.cancelled = grace, cancel, cancelled
        self.kill_children, self.token = kill_children, token
        self.term_children = term_children


def _reacted(reacted: threading.Event, cancel: Callable[[], None]) -> None:
    reacted.set()
    cancel()


_WATCHER: _Watcher | None = None  # this process's watcher thread, once started
_STOP = ord("S")  # the byte on the SIGTERM pipe that ends the watch (a SIGTERM's: b"T")


def start(
    parent_pid: int,
    *,
    parent_fd: int | None = None,
    path: str,
    grace: Callable[[], float],
    cancel: Callable[[str], None],
    kill_children: Callable[[], None],
    term_children: Callable[[], list[int]] | None = None,
) -> threading.Thread:
    """Watch ``parent_pid`` (or, when given, the lifeline pipe ``parent_fd``) from a
    daemon thread (see the module docstring); the same thread serves
    :func:`watch_sigterm` later.
    ``cancel(reason)`` and ``kill_children()`` (SIGKILLs this actor's live children,
    each only while it is provably that child) must be safe to call from another
    thread; ``grace()`` is read when the parent is gone
    (the tree's settings arrive after the watch starts). ``term_children()``, when
    given, SIGTERMs them and returns their pids: a hard exit gives them the rest of its
    budget to end themselves (see :func:`exit_now`)."""
    return _start(
        _Watcher(parent_pid, parent_fd, path, grace, cancel, kill_children, term_children)
    )


def rename(path: str) -> None:
    """The watched actor is ``path`` from now on (a spare, once taken)."""
    if _WATCHER is not None:
        _WATCHER.path = path


def _start(watcher: _Watcher) -> threading.Thread:
    global _WATCHER
    _WATCHER = watcher
    thread = threading.Thread(target=watcher.run, name="devx-lifeline", daemon=True)
    thread.start()
    # the process exiting by itself (its end done) needs no watch: the thread ends
    # first (core.threads: its memory is then released on the exiting thread's CPU)
    threads.end_before_exit(thread, watcher.ask_to_end)
    return thread


class HardExit(NamedTuple):
    """What a :func:`before_hard_exit` hook is told: which actor ends, why (the line
    on stderr says the same), its exit code, and by when (``time.monotonic()``) the
    hook has to be done: the process ends then whatever it is doing."""

    path: str
    why: str
    code: int
    deadline: float


_BEFORE_EXIT: list[Callable[[HardExit], None]] = []  # see before_hard_exit
_BEFORE_EXIT_LAST: list[Callable[[HardExit], None]] = []  # last=True: after the others
_EXITING = _thread.allocate_lock()  # held by the one exit_now under way


def before_hard_exit(fn: Callable[[HardExit], None], *, last: bool = False) -> Callable[[], None]:
    """Run ``fn(info)`` before :func:`exit_now` ends the process: e.g. the root (or a
    REPL on screen) puts back the terminal settings it saved, which readline's prompt
    would leave without echo; telemetry ends its open spans and flushes. ``fn`` runs on
    a helper thread (the actor's loop is blocked, or its thread is in a signal handler):
    it must take no lock without a timeout that the blocked thread may hold, and be done
    by ``info.deadline`` (the process ends then anyway). Hooks run in the order they
    were registered, those registered with ``last`` (what may take the whole budget: a
    flush) after all others. Returns the function that unregisters it."""
    hooks = _BEFORE_EXIT_LAST if last else _BEFORE_EXIT
    hooks.append(fn)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            hooks.remove(fn)

    return remove


def _run_hooks(info: HardExit, done: Any) -> None:
    with contextlib.suppress(Exception):  # the process's signals are the main thread's
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        for fn in [*_BEFORE_EXIT, *_BEFORE_EXIT_LAST]:
            with contextlib.suppress(Exception):
                fn(info)
    finally:
        done.release()


def exit_now(
    path: str,
    why: str,
    kill_children: Callable[[], None],
    code: int,
    *,
    term_children: Callable[[], list[int]] | None = None,
) -> None:
    """End our children, run the :func:`before_hard_exit` hooks, say why on stderr,
    exit at once (from a thread, or a signal handler: the loop cannot be relied on);
    all within :data:`HARD_EXIT_BUDGET`. Never returns. With ``term_children`` the
    children are SIGTERMed first and given the budget (beside the hooks) to end
    themselves, their telemetry written (a child whose loop runs ends gracefully in
    milliseconds); ``kill_children`` SIGKILLs those still there at its end."""
    if not _EXITING.acquire(blocking=False):
        # another thread is in its hard exit already (a second SIGTERM as the lifeline
        # ends the process): it exits within its budget; should it not, this one does
        _EXITING.acquire(timeout=HARD_EXIT_BUDGET + 0.5)
        os._exit(code)
    deadline = time.monotonic() + HARD_EXIT_BUDGET
    ending: list[int] = []
    try:
        if term_children is not None:
            ending = term_children()
        else:
            kill_children()
    except Exception:
        pass
    if _BEFORE_EXIT or _BEFORE_EXIT_LAST:
        info = HardExit(path, why, code, deadline)
        done = _thread.allocate_lock()
        done.acquire()
        try:
            # _thread, not threading: Thread.start() takes threading's own lock, which
            # the thread calling this (a signal handler's) may hold
            _thread.start_new_thread(_run_hooks, (info, done))
        except Exception:
            done.release()
        else:
            done.acquire(timeout=max(0.0, info.deadline - time.monotonic()) + 0.05)
    if ending:
        while time.monotonic() < deadline:
            ending = [pid for pid in ending if not _gone(pid)]
            if not ending:
                break
            time.sleep(0.01)
        try:
            kill_children()  # those that did not make it
        except Exception:
            pass
    try:
        os.write(2, f"devx: actor {path!r} (pid {os.getpid()}): {why}: exiting now\n".encode())
    except OSError:
        pass
    os._exit(code)


def _gone(pid: int) -> bool:
    """``pid`` has exited (a zombie, or no such process): our children are reaped by
    our loop, which is blocked here, or by the fork server."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:  # no such process (or no /proc: never known, the budget
        return os.path.isdir("/proc/self")  # ends the wait)
    except (OSError, IndexError):
        return False


def watch_sigterm(
    *,
    path: str,
    grace: Callable[[], float],
    cancel: Callable[[], None],
    cancelled: Callable[[], bool],
    kill_children: Callable[[], None],
    term_children: Callable[[], list[int]] | None = None,
) -> None:
    """SIGTERM, seen even when the actor's loop is blocked (busy in sync code): the
    handler (Python runs it between bytecodes, whatever the loop does) only writes
    to a pipe; the watcher thread (:func:`start`'s, or one started here) reads it and
    asks the loop to ``cancel()``. A loop that does not run that request within
    :func:`react_wait` seconds (``grace()``, at most :data:`REACT_WAIT`), a second
    SIGTERM, or one that comes while a cancel is under way already (``cancelled()``:
    it is the parent's escalation) ends the process (:func:`exit_now`: children
    SIGKILLed, the hooks run, a line on stderr, exit code 128+SIGTERM), which its
    parent sees as the actor's exit. In that last case, an actor with children
    (``term_children()`` SIGTERMs them and returns their pids) first gives them the time
    to end themselves, :func:`react_wait` + :data:`HARD_EXIT_BUDGET`, ending by
    itself meanwhile if it can. Call from the main thread, in the actor's trio run."""
    watcher = _WATCHER
    if watcher is None or watcher.owner != os.getpid():  # no parent watch: SIGTERM alone
        watcher = _Watcher(None, None, path, grace, lambda why: None, kill_children)
        _start(watcher)
    watcher.on_term = _TermWatch(
        grace,
        cancel,
        cancelled,
        kill_children,
        trio.lowlevel.current_trio_token(),
        term_children,
    )
    owner, write_fd = watcher.owner, watcher.term_w

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a process the user forked: no watch there
            signal.signal(SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), SIGTERM)
            return
        try:
            os.write(write_fd, b"T")
        except OSError:  # a full pipe: enough SIGTERMs are pending already
            pass

    signal.signal(signal.SIGTERM, handler)
