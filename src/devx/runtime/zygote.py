"""The fork server's own process (the zygote): a pre-imported interpreter that forks
actors on request. Started by the root (:mod:`devx.runtime.forkserver`) with the
root's stdio, process group and environment.

Why it is safe to fork here: the zygote imports trio, msgspec and devx (the runtime,
the hook modules every actor boots with and what they preload) but never runs a trio
loop, never starts a thread (checked before every fork) and serves its connections from one plain
``select`` loop. The forked child undoes what is the zygote's: its signal
dispositions, wakeup fd and mask (the requester's instead, as a spawned child
inherits them), its process group (the requester's), its connections and the selector, ``random``'s
state, the environment and cwd (the requester's, sent with the request), and the
process name; then it boots exactly as a spawned child does
(:func:`devx.runtime.child.run_forked`).

Who may ask: only holders of one of its socketpairs (the root's, inherited; each
forked actor's, made by the zygote before the fork), and every request must carry
the tree's secret, which the root sent first. Anything else is refused with a reason.

It reaps every child it forked and reports each exit to the actor that asked for it
(:class:`~devx.runtime.msgs.ChildExited`), so the parent actor sees exit codes and
signals as ``trio.Process`` would show them. It ignores the terminal's signals
(ctrl-c, SIGTERM or SIGHUP sent to the whole process group, stack-dump signals) and
exits when the root's connection closes: at once when no child is left, else once
its children are gone (they watch their parent actors and exit by themselves), and
SIGKILLs any still there after :func:`linger` seconds. The root says earlier, once
its tree spawns no more (:class:`~devx.runtime.msgs.ZygoteRelease`), that it may go:
the exits of its last children are still reported to it, and the zygote exits with
the last, while the root tears down. That is not "the root is gone" (only the end of
its connection is): no linger runs then, and a child at a REPL in its teardown lives.
"""

from __future__ import annotations

import gc
import hmac
import os
import random
import re
import selectors
import signal
import socket
import stat
import sys
import time
import traceback
from collections import deque
from typing import Any

import msgspec

from ..core import hooks, settings

try:  # signal numbers and handlers as ints: no enum member made per signal
    import _signal

    _SIG_DFL, _SIG_IGN = int(_signal.SIG_DFL), int(_signal.SIG_IGN)
except ImportError:  # another Python: the public module, as slow as it is
    _signal = signal
    _SIG_DFL, _SIG_IGN = signal.SIG_DFL, signal.SIG_IGN
from .fdpass import fds_of, rights
from .lifeline import start_time as forkserver_start_time
from .msgs import (
    ZYGOTE_MAX_FRAME,
    ChildExited,
    Fork,
    Forked,
    ForkRefused,
    ZygoteHello,
    ZygoteMsg,
    ZygoteRelease,
)

PROCESS_NAME = "devx-zygote"  # /proc/<pid>/comm, what ps shows
# after the root is gone: how long children may take to exit by themselves


def linger(cfg: settings.Settings | None = None) -> float:
    """Seconds the zygote lets orphaned actors end after the root is gone (with
    ``cfg``'s grace, default this process's settings)."""
    return 3 * (cfg or settings.current()).cancel_grace + 5


# answers waiting for a requester that does not read (its loop is blocked, say): kept
# (the zygote never waits on one requester), up to this many, then it is dropped
MAX_QUEUED = 4096
# the terminal's signals a whole process group gets: the zygote outlives them until
# its root says (by closing its connection) that the tree is done
IGNORED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
MAX_FDS = 8  # received with a request (up to five are expected); the rest are closed

_decoder = msgspec.msgpack.Decoder(ZygoteMsg)
_encoder = msgspec.msgpack.Encoder()


def _say(msg: str) -> None:
    try:
        os.write(2, f"devx: fork server (pid {os.getpid()}): {msg}\n".encode())
    except OSError:
        pass


def thread_count() -> int:
    """Threads of this process as the kernel sees them (C-level ones included)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _comm() -> str | None:
    try:
        with open("/proc/self/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _set_comm(name: str | None) -> None:
    if name is None:
        return
    try:
        with open("/proc/self/comm", "w", encoding="utf-8", errors="replace") as f:
            f.write(name[:15])
    except OSError:
        pass


def preload() -> None:
    """Import what every actor imports at boot (nothing that starts a thread), and
    no more: the tree's first actor waits for this (its spawn request is queued while
    the zygote boots), so what an actor loads later is imported once the zygote is
    idle (:data:`WARM_LATER`)."""
    import importlib

    # (importing this module imported the devx package, which registered the hooks)
    from ..core import hooks
    from . import child, forkserver  # noqa: F401

    for path in hooks.registered():
        try:
            importlib.import_module(path.partition(":")[0])
        except Exception:  # the child imports it again and reports the error
            pass
    hooks.preload()  # what the hooks load for a default actor (telemetry's file sink)


# what an actor loads after its boot (the spawning code, when it spawns): imported one
# module per idle turn of the loop once the zygote serves, so that neither the first
# fork nor a pending request waits for it; a child forked before imports it itself
WARM_LATER = ("devx.runtime.nursery",)


class Zygote:
    """The select loop: requests in, forks, reaps, exit reports out."""

    def __init__(self, root: socket.socket, comm: str | None):
        self.comm = comm
        self.root: socket.socket | None = root
        self.secret: bytes | None = None
        self.conns: dict[int, socket.socket] = {}
        # conn fd -> frames (with the fds they carry, ours to close) not yet sent
        self.outq: dict[int, deque[tuple[bytes, list[int]]]] = {}
        self.writing: set[int] = set()  # conns waited on for room to send
        # the root said its tree spawns no more (ZygoteRelease): its connection is
        # closed once its children's exits are reported; it still lives meanwhile
        self.released = False
        self.root_done = False  # ... and its connection was closed so, not by its end
        self.req = 0  # the request being handled, once its frame is decoded
        self.owner: dict[int, socket.socket | None] = {}  # child pid -> requester
        self.deadline: float | None = None  # set when the root is gone
        self.later = deque(WARM_LATER)  # imported while no request waits
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, _noop)
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self._add(root)

    def _add(self, conn: socket.socket) -> None:
        conn.setblocking(False)  # a requester that stops reading never holds the loop
        self.conns[conn.fileno()] = conn
        self.sel.register(conn, selectors.EVENT_READ)

    def _drop(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        if fd < 0 or self.conns.pop(fd, None) is None:
            return
        self.sel.unregister(conn)
        self.writing.discard(fd)
        for _frame, fds in self.outq.pop(fd, ()):
            _close_all(fds)
        conn.close()
        for pid, owner in self.owner.items():
            if owner is conn:
                self.owner[pid] = None
        if conn is self.root:
            self._root_gone()

    def _root_gone(self) -> None:
        self.root = None
        self.deadline = time.monotonic() + linger()

    def _has_children(self, conn: socket.socket) -> bool:
        return any(owner is conn for owner in self.owner.values())

    def _interest(self, conn: socket.socket) -> None:
        """Watch ``conn`` for requests (and its end), and for room to send while
        answers wait."""
        events = selectors.EVENT_READ
        if conn.fileno() in self.writing:
            events |= selectors.EVENT_WRITE
        self.sel.modify(conn, events)

    def _maybe_done(self, conn: socket.socket) -> None:
        """Close the root's connection once it let the zygote go and nothing is left
        to tell it: the zygote then exits (the root waits for it)."""
        if (
            self.released
            and conn is self.root
            and not self.outq.get(conn.fileno())
            and not self._has_children(conn)
        ):
            self.root_done = True
            self._drop(conn)

    # --- the loop ------------------------------------------------------------------

    def serve(self) -> None:
        # (an answer still queued for a requester: kept up to the linger deadline)
        while self.root is not None or self.owner or self.outq:
            timeout = None
            if self.deadline is not None:
                timeout = self.deadline - time.monotonic()
                if timeout <= 0:
                    self._kill_all()
                    return
            if self.later:  # look, don't wait: warm up when nothing is asked
                timeout = 0
            ready = self.sel.select(timeout)
            if not ready and self.later:
                self._warm(self.later.popleft())
            for key, mask in ready:
                if key.fileobj == self.wake_r:
                    try:
                        while os.read(self.wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                conn: socket.socket = key.fileobj  # type: ignore[assignment]
                if mask & selectors.EVENT_WRITE:
                    self._flush(conn)
                if mask & selectors.EVENT_READ and conn.fileno() >= 0:
                    self._readable(conn)
            self._reap()

    @staticmethod
    def _warm(module: str) -> None:
        """Import ``module`` ahead for the children forked from now on."""
        import importlib

        try:
            importlib.import_module(module)
        except Exception:  # a child that needs it imports it and reports the error
            pass

    def _reap(self) -> None:
        while self.owner:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.owner.clear()
                return
            if pid == 0:
                return
            conn = self.owner.pop(pid, None)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                self._send(conn, ChildExited(pid=pid, returncode=code))
                self._maybe_done(conn)

    def _kill_all(self) -> None:
        pids = list(self.owner)
        if pids:
            why = "the root's children are gone" if self.root_done else "the root is gone"
            _say(f"{why} and {len(pids)} actor(s) still run after {linger():g}s: SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def _send(self, conn: socket.socket, msg: Any, fds: list[int] | None = None) -> None:
        """Send ``msg`` (and ``fds``, which it closes once sent) now, or queue it
        while the requester does not read: the loop serves the others meanwhile."""
        fd = conn.fileno()
        if fd < 0 or fd not in self.conns:
            _close_all(fds or [])
            return
        queue = self.outq.get(fd)
        if queue is None:
            queue = self.outq[fd] = deque()
        queue.append((_encoder.encode(msg), list(fds or [])))
        if len(queue) == 1:
            self._flush(conn)
        elif len(queue) > MAX_QUEUED:
            _say(f"a requester read none of its last {MAX_QUEUED} answers: dropped")
            self._drop(conn)

    def _flush(self, conn: socket.socket) -> None:
        """Send what ``conn``'s queue holds, until its socket is full (then the loop
        waits for it to be writable, serving the others meanwhile)."""
        fd = conn.fileno()
        queue = self.outq.get(fd) if fd in self.conns else None
        while queue:
            frame, fds = queue[0]
            try:
                conn.sendmsg([frame], rights(fds))
            except (BlockingIOError, InterruptedError):
                if fd not in self.writing:
                    self.writing.add(fd)
                    self._interest(conn)
                return
            except OSError:  # the requester is gone
                self._drop(conn)
                return
            queue.popleft()
            _close_all(fds)
        self.outq.pop(fd, None)
        if fd in self.writing:
            self.writing.discard(fd)
            self._interest(conn)
        self._maybe_done(conn)

    # --- requests ----------------------------------------------------------------------

    def _readable(self, conn: socket.socket) -> None:
        try:
            data, anc, flags, _ = conn.recvmsg(
                ZYGOTE_MAX_FRAME, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC
            )
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        fds = fds_of(anc)
        if not data and not fds:  # end of file: the requester exited (the root: it is gone)
            self._drop(conn)
            return
        self.req = 0
        try:
            why = self._handle(conn, data, flags, fds)
        except Exception as exc:  # never let one request take the zygote down
            # the request's id once its frame was read (0: it could not be read)
            why = (self.req, f"internal error: {type(exc).__name__}: {exc}")
            _say(f"request failed: {traceback.format_exc()}")
        for fd in fds:  # what the request did not consume
            try:
                os.close(fd)
            except OSError:
                pass
        if why is not None:
            req, reason = why
            self._send(conn, ForkRefused(req=req, reason=reason))

    def _handle(
        self, conn: socket.socket, data: bytes, flags: int, fds: list[int]
    ) -> tuple[int, str] | None:
        """Serve one request; returns ``(req, reason)`` to refuse it. Consumes (removes
        from ``fds``) the fds it keeps."""
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            return 0, f"request too large (over {ZYGOTE_MAX_FRAME} bytes or {MAX_FDS} fds)"
        try:
            msg = _decoder.decode(data)
        except msgspec.DecodeError as exc:
            return 0, f"malformed request: {exc}"
        if isinstance(msg, ZygoteHello):
            if conn is not self.root or self.secret is not None:
                return 0, "unexpected hello"
            self.secret = msg.secret.encode()
            return None
        if isinstance(msg, ZygoteRelease):
            if conn is not self.root:
                return 0, "unexpected release"
            self.released = True
            self._maybe_done(conn)
            return None
        if not isinstance(msg, Fork):
            return 0, f"unexpected {type(msg).__name__}"
        self.req = msg.req
        if self.secret is None or not hmac.compare_digest(msg.spec.secret.encode(), self.secret):
            return msg.req, "wrong secret"
        if self.root is None:
            return msg.req, "the tree's root is gone"
        if (
            len(fds) != 2 + sum(msg.stdio)
            or not stat.S_ISFIFO(os.fstat(fds[0]).st_mode)
            or not stat.S_ISSOCK(os.fstat(fds[-1]).st_mode)
        ):
            return msg.req, (
                "a fork request carries the parent's lifeline pipe, then one fd per open "
                "stdio stream, then the child's channel socket, and nothing else"
            )
        bad = _bad_request(msg)
        if bad:
            return msg.req, bad
        self._preload_for(msg)
        threads = thread_count()
        if threads != 1:
            reason = f"the fork server runs {threads} threads: forking it is unsafe"
            self._send(conn, ForkRefused(req=msg.req, reason=reason, spawn_elsewhere=True))
            return None
        self._fork(conn, msg, fds)  # the parent closes them all after the fork
        return None

    def _preload_for(self, msg: Fork) -> None:
        """Import what this actor's settings make it load at boot or on first use
        (the stack-dump handler and stackscope for a tree with dumps, greenback in
        debug mode): once here, inherited by it and every later child, instead of
        imported by each. An import may run trio (stackscope learns trio's types with
        a ``trio.run`` at import), which must not find this loop's wakeup fd (trio
        warns of a collision on the terminal); a SIGCHLD meanwhile woke nobody, so
        the loop is woken once after, to reap."""
        old = signal.set_wakeup_fd(-1)
        try:
            hooks.preload_for(msg.spec, msg.env)
        finally:
            signal.set_wakeup_fd(old)
            try:
                os.write(self.wake_w, b"\0")
            except OSError:  # full: a wake-up is pending anyway
                pass

    def _fork(self, conn: socket.socket, msg: Fork, fds: list[int]) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        pid = os.fork()
        if pid == 0:  # the child: never returns into this loop
            try:
                mine.close()
                self._become_child(msg, fds, theirs)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        theirs.close()
        pidfd = -1
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            try:  # not reaped before we send it: we are the only reaper
                pidfd = pidfd_open(pid)
            except OSError:
                pidfd = -1
        # without a pidfd: its start time names it (ours to reap: not another's yet)
        start = forkserver_start_time(pid) if pidfd < 0 else 0
        self.owner[pid] = conn
        self._add(mine)
        forked = Forked(req=msg.req, pid=pid, start=start)
        self._send(conn, forked, [pidfd] if pidfd >= 0 else None)

    def _become_child(self, msg: Fork, fds: list[int], ctl: socket.socket) -> None:
        """In the forked child: undo the zygote, become the actor of ``msg``."""
        lifeline_fd, *stdio, chan_fd = fds
        for target, present in enumerate(msg.stdio):  # the requester's, as of now
            try:
                if present:
                    fd = stdio.pop(0)
                    os.dup2(fd, target)
                    os.close(fd)
                else:
                    os.close(target)
            except OSError:
                pass
        if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
            try:  # as the interpreter decides at startup: line-buffered on a terminal
                sys.stdout.reconfigure(line_buffering=os.isatty(1))
            except (OSError, ValueError):
                pass
        signal.set_wakeup_fd(-1)
        reset_signals(msg.sig_ignored, msg.sig_blocked)
        if msg.pgid and msg.pgid != os.getpgrp():
            try:  # the requester's group (in our session: it checked)
                os.setpgid(0, msg.pgid)
            except OSError:
                pass
        self.sel.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        for conn in list(self.conns.values()):
            conn.close()
        self.conns.clear()
        self.root = None
        random.seed()
        from . import forkserver

        forkserver.set_inherited(ctl.detach(), dict(os.environ), os.getsid(0))
        set_environ(msg.env)
        if msg.cwd:
            try:
                os.chdir(msg.cwd)
            except OSError:
                pass  # gone since: the zygote's (the root's at its start) stays
        os.umask(msg.umask)
        if msg.limits and msg.limits != _LIMITS:  # the requester's (the block set one)
            set_limits(msg.limits, _LIMITS)
        _set_comm(self.comm)
        spec = msg.spec
        from . import child

        sys.argv = [child.__file__ or "", "--forked", "--name", spec.name]
        child.run_forked(spec, parent_fd=lifeline_fd, chan_fd=chan_fd)


# what ``subprocess`` resets to the default before exec (restore_signals), and
# Python's startup then ignores
_PYTHON_IGNORES = frozenset((int(signal.SIGPIPE), int(signal.SIGXFSZ)))
_UNCATCHABLE = frozenset((int(signal.SIGKILL), int(signal.SIGSTOP)))


def reset_signals(ignored: list[int], blocked: list[int]) -> None:
    """Signal dispositions and mask as a child spawned by the requester has them: what
    the requester ignores stays ignored, every handler is back to the default (as exec
    leaves them), then what Python's startup sets (SIGPIPE and SIGXFSZ ignored, ctrl-c
    raising KeyboardInterrupt unless ignored); the requester's thread's mask. On signal
    numbers through ``_signal`` (``signal``'s wrappers make an enum member of every
    signal and handler: ~0.3 ms of each fork)."""
    ign = {int(sig) for sig in ignored} | _PYTHON_IGNORES
    sigint = int(signal.SIGINT)
    for sig in _signal.valid_signals():
        if sig in _UNCATCHABLE:
            continue
        want: Any = _SIG_IGN if sig in ign else _SIG_DFL
        if sig == sigint and want == _SIG_DFL:
            want = signal.default_int_handler
        try:
            _signal.signal(sig, want)
        except (OSError, ValueError):  # reserved by the C library (32, 33)
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, blocked)


_LIMITS = b""  # the zygote's resource limits (/proc/self/limits), read at its start


def _parse_limits(text: bytes) -> dict[str, tuple[str, str]]:
    """``/proc/self/limits``: each limit's name -> (soft, hard) as written."""
    out = {}
    for line in text.decode("ascii", "replace").splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3:
            out[parts[0]] = (parts[1], parts[2])
    return out


# the names /proc/self/limits gives the limits ``resource`` sets
_LIMIT_NAMES = {
    "Max cpu time": "RLIMIT_CPU",
    "Max file size": "RLIMIT_FSIZE",
    "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK",
    "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS",
    "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE",
    "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS",
    "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING",
    "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE",
    "Max realtime priority": "RLIMIT_RTPRIO",
    "Max realtime timeout": "RLIMIT_RTTIME",
}


def set_limits(want: bytes, have: bytes) -> None:
    """Make this (forked) process's resource limits the requester's, ``want``, where
    they differ from ``have`` (the zygote's), as a child spawned by the requester
    inherits them. A limit this process may not take (a hard limit above its own,
    unprivileged) stays as it is."""
    import resource

    def value(text: str) -> int:
        return resource.RLIM_INFINITY if text == "unlimited" else int(text)

    mine = _parse_limits(have)
    for name, pair in _parse_limits(want).items():
        attr = _LIMIT_NAMES.get(name)
        if pair == mine.get(name) or attr is None or not hasattr(resource, attr):
            continue
        try:
            resource.setrlimit(getattr(resource, attr), (value(pair[0]), value(pair[1])))
        except (ValueError, OSError):
            pass


def set_environ(env: dict[str, str]) -> None:
    """Make ``os.environ`` (and the C library's environment) ``env``, keys in its
    order: only the variables that differ are changed (the requester's environment is
    mostly the zygote's; clearing and refilling it all was ~0.5 ms of each fork)."""
    cur = os.environ
    for key in [key for key in cur if key not in env]:
        del cur[key]
    for key, val in env.items():
        if cur.get(key) != val:
            cur[key] = val
    if list(cur) != list(env):  # another order: as the requester has it
        cur.clear()
        cur.update(env)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _noop(signum: int, frame: object) -> None:
    """SIGCHLD: the wakeup fd wakes the loop, which reaps."""


def _bad_request(msg: Fork) -> str | None:
    """Why ``msg`` cannot be forked as asked (what the child would choke on)."""
    from .actor import check_actor_name

    try:
        check_actor_name(msg.spec.name)
    except ValueError as exc:
        return str(exc)
    for key, val in msg.env.items():
        if not key or "=" in key or "\0" in key or "\0" in val:
            return f"invalid environment variable {key!r}"
    if "\0" in msg.cwd:
        return "invalid cwd"
    if not 0 <= msg.umask <= 0o777:
        return "invalid umask"
    return None


def main(*, collector: bool = False) -> None:
    """``python -c <boot> FD``: serve the root's socketpair end ``FD`` (a forked
    child gets its requester's signal dispositions, not these). ``collector``: the
    garbage collector, off for the imports (:data:`~.spawn_methods.ZYGOTE_BOOT`),
    goes on once they are frozen, before the first fork."""
    global _LIMITS
    for sig in IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    from .forkserver import _limits

    _LIMITS = _limits()
    root = socket.socket(fileno=int(sys.argv[1]))
    comm = _comm()
    _set_comm(PROCESS_NAME)
    preload()
    if collector:
        gc.freeze()
        gc.enable()
    threads = thread_count()
    if threads != 1:
        _say(f"{threads} threads after the imports: it will refuse to fork")
    Zygote(root, comm).serve()
    os._exit(0)
