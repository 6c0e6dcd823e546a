"""A caller whose reply is due polls its channel briefly before its loop sleeps.

On an idle machine a process that blocks in ``epoll_wait`` goes to sleep and its CPU
idles; waking it when the reply lands costs tens of microseconds (in a VM the idle
vCPU itself has to be woken): ~45 us per wake-up on the 2-CPU VM the benches run on,
as much as the rest of a round trip. A caller that polls its socket until the reply
is there is not asleep when it comes.

So when this actor's loop is about to block (nothing else to run: trio's
``before_io_wait`` with a positive timeout) while a ``portal.run`` waits for its
reply, it polls that call's socket for up to ``DEVX_REPLY_SPIN_US`` (then blocks as
before; the channel's reader reads what came), and only:

- while the machine has a CPU to spare (the kernel's count of runnable tasks in
  ``/proc/loadavg``, this one included, at most this process's CPUs): on a busy
  machine the peer may need this very CPU, and polling would delay the reply;
- while replies keep coming within the window: each poll that runs out costs
  :data:`MISS_COST` of :data:`CREDIT_MAX` credits, each that finds its reply earns
  one (polling goes on while more than 4 in 5 polls find it); with none left only
  every :data:`PROBE_EVERY`-th wait polls (a slow callee costs next to no CPU);
- not in a trio guest run (``before_io_wait`` runs on the host loop's thread there).

Off by default (``DEVX_REPLY_SPIN_US=0``): it trades the caller's CPU for latency, which
pays on an idle machine only; the run-queue check cannot see a container's CPU quota,
and any frame on the polled channel (a stream's too) counts as a reply in time.
"""

from __future__ import annotations

import os
import select
import time

import trio

from ..core import settings

CREDIT_MAX = 8
MISS_COST = 4
PROBE_EVERY = 64
LOADAVG = "/proc/loadavg"
LOAD_EVERY = 0.002

_POLL: trio.lowlevel.RunVar[ReplyPoll | None] = trio.lowlevel.RunVar("devx_reply_poll")


def poller() -> ReplyPoll | None:
    """This trio run's poller (installed at the first call), ``None`` when off."""
    try:
        return _POLL.get()
    except LookupError:
        pass
    poll: ReplyPoll | None = None
    limit = settings.current().reply_spin_us / 1e6
    if limit > 0 and not _guest_run():
        load_fd = open_loadavg()
        if load_fd >= 0:
            poll = ReplyPoll(limit, load_fd)
            trio.lowlevel.add_instrument(poll)
    _POLL.set(poll)
    return poll


def _guest_run() -> bool:
    """True in a trio guest run (or when trio does not say)."""
    try:
        from trio._core._run import GLOBAL_RUN_CONTEXT  # no public way to ask
    except ImportError:  # a trio that moved it: never poll rather than fail every call
        return True
    return bool(getattr(getattr(GLOBAL_RUN_CONTEXT, "runner", None), "is_guest", True))


def open_loadavg() -> int:
    try:
        return os.open(LOADAVG, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # not Linux: never polls
        return -1


class ReplyPoll(trio.abc.Instrument):
    """Polls the sockets of the calls waiting for a reply before the loop blocks."""

    def __init__(self, limit: float, load_fd: int) -> None:
        self.limit = limit
        self._load_fd = load_fd
        self._cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self._poll = select.poll()
        self._waiting: dict[int, int] = {}  # fd -> calls waiting for a reply on it
        self.credit = CREDIT_MAX // 2
        self._skipped = 0
        self._load_at = -LOAD_EVERY
        self._spare = False
        self.polls = self.hits = 0  # what it did (tests, benches)

    def expect(self, fd: int) -> None:
        """A call waits for its reply on ``fd``."""
        n = self._waiting.get(fd, 0)
        if not n:
            self._poll.register(fd, select.POLLIN)
        self._waiting[fd] = n + 1

    def done(self, fd: int) -> None:
        n = self._waiting.pop(fd, 0) - 1
        if n > 0:
            self._waiting[fd] = n
        else:
            self._poll.unregister(fd)

    def after_run(self) -> None:
        self.close()

    def close(self) -> None:
        if self._load_fd >= 0:
            os.close(self._load_fd)
            self._load_fd = -1  # (never polls again)

    def before_io_wait(self, timeout: float) -> None:
        if timeout <= 0 or not self._waiting:
            return
        if self.credit <= 0:
            self._skipped += 1
            if self._skipped < PROBE_EVERY:
                return
            self._skipped = 0
        if not self.cpu_to_spare():
            return
        poll, now = self._poll.poll, time.perf_counter
        end = now() + min(self.limit, timeout)
        self.polls += 1
        while True:  # one look at least: a reply already there is never missed
            if poll(0):
                self.hits += 1
                self.credit = min(CREDIT_MAX, self.credit + 1)
                return
            if now() >= end:
                break
        # never below 0: a slow phase costs the probes, and one probe that finds its
        # reply starts polling again (a debt would keep it off long after)
        self.credit = max(0, self.credit - MISS_COST)

    def cpu_to_spare(self) -> bool:
        """Runnable tasks on the machine (this one among them) at most our CPUs
        (read at most every :data:`LOAD_EVERY` seconds: a busy machine's waits pay
        for one read, not one each)."""
        now = time.perf_counter()
        if now - self._load_at < LOAD_EVERY:
            return self._spare
        self._load_at = now
        try:
            running = int(os.pread(self._load_fd, 128, 0).split()[3].split(b"/")[0])
        except (OSError, IndexError, ValueError):
            running = self._cpus + 1
        self._spare = running <= self._cpus
        return self._spare
