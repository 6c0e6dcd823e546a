"""A child actor never outlives its parent, whatever the kill order.

A thread of its own (not the trio thread: the actor's loop may be stuck in sync code)
waits for the parent process to exit. On Linux the kernel tells it: a pidfd of the
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
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable

import trio

EXIT_NO_PARENT = 3
SIGTERM = signal.SIGTERM
POLL_INTERVAL = 0.25  # the fallback's getppid() period, where pidfds are missing


def start_time(pid: int) -> int:
    """When ``pid`` started (clock ticks after boot; 0 when there is no such process
    or no ``/proc``): with the pid, it names one process, where a pid alone may be
    reused once its process is reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _wait_parent_exit(parent_pid: int) -> None:
    """Return once ``parent_pid`` (our parent at start) has exited."""
    pidfd = -1
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            pidfd = pidfd_open(parent_pid)
        except OSError:  # gone already, or a kernel without pidfds
            pidfd = -1
    if pidfd >= 0:
        try:
            # the parent may have exited and its pid been reused before pidfd_open:
            # then we were reparented already
            if os.getppid() != parent_pid:
                return
            while True:
                try:
                    ready, _, _ = select.select([pidfd], [], [])
                except InterruptedError:
                    continue
                if ready:
                    return
        finally:
            os.close(pidfd)
    while os.getppid() == parent_pid:
        time.sleep(POLL_INTERVAL)


def _wait_fd_eof(fd: int) -> None:
    """Return once ``fd`` (a pipe's read end) reads end of file."""
    while True:
        try:
            ready, _, _ = select.select([fd], [], [])
        except InterruptedError:
            continue
        if ready:
            try:
                if not os.read(fd, 512):  # nobody writes to it: only the EOF comes
                    return
            except BlockingIOError:
                continue
            except OSError:
                return


def start(
    parent_pid: int,
    *,
    parent_fd: int | None = None,
    path: str,
    grace: Callable[[], float],
    cancel: Callable[[str], None],
    kill_children: Callable[[], None],
) -> threading.Thread:
    """Watch ``parent_pid`` (or, when given, the lifeline pipe ``parent_fd``) from a
    daemon thread (see the module docstring).
    ``cancel(reason)`` and ``kill_children()`` (SIGKILLs this actor's live children,
    each only while it is provably that child) must be safe to call from another
    thread; ``grace()`` is read when the parent is gone
    (the tree's settings arrive after the watch starts)."""

    def watch() -> None:
        if parent_fd is not None:
            _wait_fd_eof(parent_fd)
        else:
            _wait_parent_exit(parent_pid)
        reason = f"its parent (pid {parent_pid}) died"
        try:
            cancel(reason)
        except Exception:
            pass
        wait = grace()
        time.sleep(wait)  # a process that exits meanwhile takes this thread along
        _exit_now(
            path,
            f"{reason} and it did not finish within {wait:g}s (its loop is blocked?)",
            kill_children,
            EXIT_NO_PARENT,
        )

    thread = threading.Thread(target=watch, name="devx-lifeline", daemon=True)
    thread.start()
    return thread


def _exit_now(path: str, why: str, kill_children: Callable[[], None], code: int) -> None:
    """SIGKILL our children, say why on stderr, exit at once (from a thread: the
    loop cannot be relied on)."""
    try:
        kill_children()
    except Exception:
        pass
    try:
        os.write(2, f"devx: actor {path!r} (pid {os.getpid()}): {why}: exiting now\n".encode())
    except OSError:
        pass
    os._exit(code)


def watch_sigterm(
    *,
    path: str,
    grace: Callable[[], float],
    cancel: Callable[[], None],
    cancelled: Callable[[], bool],
    kill_children: Callable[[], None],
) -> threading.Thread:
    """SIGTERM, seen even when the actor's loop is blocked (busy in sync code): the
    handler (Python runs it between bytecodes, whatever the loop does) only writes
    to a pipe; a daemon thread reads it and asks the loop to ``cancel()``. A loop
    that does not run that request within ``grace()`` seconds, a second SIGTERM, or
    one that comes while a cancel is under way already (``cancelled()``: it is the
    parent's escalation) ends the process (children SIGKILLed, a line on stderr,
    exit code 128+SIGTERM), which its parent sees as the actor's exit. Call from the
    main thread, in the actor's trio run."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    reacted = threading.Event()
    token = trio.lowlevel.current_trio_token()

    owner = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a process the user forked: no watch there
            signal.signal(SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), SIGTERM)
            return
        try:
            os.write(write_fd, b"T")
        except OSError:  # a full pipe: enough SIGTERMs are pending already
            pass

    def loop_reacted() -> None:
        reacted.set()
        cancel()

    def watch() -> None:
        os.read(read_fd, 1)
        if cancelled():
            _exit_now(path, "SIGTERM while it was being cancelled", kill_children, 128 + SIGTERM)
        wait = grace()
        try:
            token.run_sync_soon(loop_reacted)
        except trio.RunFinishedError:  # the loop is over: the process is ending anyway
            reacted.set()
        ready, _, _ = select.select([read_fd], [], [], wait)
        if ready or reacted.is_set():
            if not ready:  # the loop took it: only a second SIGTERM is ours to act on
                select.select([read_fd], [], [])
            why = "a second SIGTERM"
        else:
            why = f"SIGTERM, and its loop did not react within {wait:g}s (blocked in sync code?)"
        _exit_now(path, why, kill_children, 128 + SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    thread = threading.Thread(target=watch, name="devx-sigterm", daemon=True)
    thread.start()
    return thread
