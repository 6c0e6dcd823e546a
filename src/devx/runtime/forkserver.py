"""The fork server backend, parent side: start the root's zygote
(:mod:`devx.runtime.zygote`), ask it for children, and see them as processes.

- The root starts one zygote per tree (``spawn_method="forkserver"``) on its first
  spawn (:class:`RootZygote`): a root that never spawns never pays for the zygote's
  imports. A root opened by ``open_nursery`` (which opens a nursery to spawn) has it
  started before it opens (:func:`~devx.runtime.spawn_methods.start_early`): it
  imports while the root sets itself up.
- Every actor forked by it inherits a private connection to it, so grandchildren are
  forked by the same zygote; an actor spawned as a plain subprocess (the fallback
  below) spawns its own children as subprocesses.
- :class:`ForkedProcess` is what :class:`~devx.runtime.child_record.ChildRecord`
  holds instead of a ``trio.Process``: same ``pid``/``returncode``/``wait``/signal
  methods. The zygote reaps the child and reports its exit status; signals go through
  the child's pidfd (sent by the zygote before it could reap it), or, on a kernel
  without pidfds, by pid while the process there has the start time the zygote
  recorded at the fork: a reused pid is never signalled.
- Parent death: the child watches a pipe whose write end only the parent actor holds
  (:mod:`devx.runtime.lifeline`), not the zygote.
- A child whose environment differs from the zygote's in a variable read at import
  (``PYTHON*``, ``OTEL_*``, the locale) is spawned as a subprocess: the zygote's
  modules read the zygote's. ``DEVX_*`` settings are not among them: they travel in
  the spawn spec (:mod:`devx.core.settings`). So is a child whose requester left the
  zygote's session (the forked child joins its requester's process group, which must
  be in the zygote's session), and every child once the zygote is gone (with a warning).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from ..core import settings
from . import lifeline, spawn_methods
from .boot_watch import Progress
from .child_record import TERM_GRACE
from .errors import ActorBootError
from .fdpass import fds_of, rights
from .msgs import (
    ZYGOTE_MAX_FRAME,
    ChildExited,
    Fork,
    Forked,
    ForkRefused,
    SpawnSpec,
    ZygoteHello,
    ZygoteMsg,
    ZygoteRelease,
)
from .spawn import SubprocessSpawner

if TYPE_CHECKING:
    from .actor import Actor

log = logging.getLogger("devx.runtime")

BOOT = spawn_methods.ZYGOTE_BOOT  # the zygote's command line (``python -c BOOT FD``)
# a fork request waits for its answer while the zygote makes progress (its own boot
# included): DEVX_BOOT_TIMEOUT without any fails it (ForkServerClient._wait_answer)
EXIT_WAIT = 1.0  # the root waits this long for its zygote to exit, then SIGKILLs it
# returncode of a child whose zygote died before it (not ours to reap): a placeholder,
# never shown (ForkedProcess.exit_unknown says why there is no status)
EXIT_UNKNOWN = 255
WHY_UNKNOWN = "the fork server ended before reporting it"
# variables a pre-imported module (or the interpreter: locale, stdio encoding) may
# have read at startup, in the zygote
_IMPORT_TIME_PREFIXES = ("PYTHON", "OTEL_", "LC_", "LANG")

_decoder = msgspec.msgpack.Decoder(ZygoteMsg)
_client: ForkServerClient | None = None
_inherited: tuple[int, dict[str, str], int] | None = None
_root_zygote: RootZygote | None = None  # the root's, until its first spawn starts it


class ForkServerLost(Exception):
    """The zygote is gone: spawn another way."""


available = spawn_methods.forkserver_available


def current_client() -> ForkServerClient | None:
    """The zygote connection of this actor, when its tree forks its children."""
    return _client


def set_inherited(fd: int, zygote_env: dict[str, str], zygote_sid: int) -> None:
    """Called by the zygote in a child it forked: its connection for its own children."""
    global _inherited, _client
    _inherited = (fd, zygote_env, zygote_sid)
    _client = None


def env_compatible(env: dict[str, str], zygote_env: dict[str, str]) -> bool:
    """Whether a child with ``env`` sees the same import-time settings as the zygote."""
    for key in env.keys() | zygote_env.keys():
        if key.startswith(_IMPORT_TIME_PREFIXES):
            if env.get(key) != zygote_env.get(key):
                return False
    return True


class ForkedProcess:
    """A child forked by the zygote, with the part of ``trio.Process`` the runtime
    uses. Its exit status comes from the zygote (its OS parent)."""

    def __init__(self, pid: int, pidfd: int, path: str, start: int = 0):
        self.pid = pid
        self._pidfd = pidfd
        self.start = start  # its start time: what proves the pid is still it, sans pidfd
        # the pidfd is closed here, used by any thread; reentrant: the stack-dump
        # relay signals children from a signal handler, which may interrupt this
        # thread inside _set_exit (returncode is set before the fd is closed)
        self._fd_lock = threading.RLock()
        self.args = f"actor {path!r}, forked by the fork server"
        self.returncode: int | None = None
        self.exit_unknown: str | None = None  # why returncode is only a placeholder
        self._exited = trio.Event()
        self._gone_lock = trio.Lock()

    def __repr__(self) -> str:
        return f"<ForkedProcess pid={self.pid} returncode={self.returncode}>"

    def poll(self) -> int | None:
        return self.returncode

    def _set_exit(self, code: int) -> None:
        if self.returncode is None:
            with self._fd_lock:
                self.returncode = code
                if self._pidfd >= 0:
                    trio.lowlevel.notify_closing(self._pidfd)
                    os.close(self._pidfd)
                    self._pidfd = -1
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        async with self._gone_lock:  # one waiter at a time on the pidfd
            if self.returncode is None:  # the zygote died first: nobody reports the exit
                await self._wait_gone()
                self._exit_unknown()
        assert self.returncode is not None
        return self.returncode

    def _exit_unknown(self) -> None:
        log.warning(
            "actor process %s exited after the fork server died: its exit status is unknown",
            self.pid,
        )
        if self.returncode is None:
            self.exit_unknown = WHY_UNKNOWN
        self._set_exit(EXIT_UNKNOWN)

    async def _wait_gone(self) -> None:
        if self._pidfd >= 0:
            await trio.lowlevel.wait_readable(self._pidfd)
            return
        while self.start and lifeline.start_time(self.pid) == self.start:
            await trio.sleep(0.1)

    def send_signal(self, sig: int) -> bool:
        """Signal the child, through its pidfd; without one (a kernel before 5.3),
        by pid only while the process there is the one the zygote forked (same start
        time): a pid is never signalled once it may be another process's. Returns
        whether the signal was sent (False: the child is gone)."""
        with self._fd_lock:
            if self.returncode is not None:
                return False
            try:
                if self._pidfd >= 0:
                    signal.pidfd_send_signal(self._pidfd, sig)
                    return True
                if self.start and lifeline.start_time(self.pid) == self.start:
                    os.kill(self.pid, sig)
                    return True
            except ProcessLookupError:
                pass
            return False

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Reply:
    def __init__(self, path: str) -> None:
        self.path = path
        self.done = trio.Event()
        self.proc: ForkedProcess | None = None
        self.refused: str | None = None


_CLIENTS: weakref.WeakSet[ForkServerClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _root_zygote
    _root_zygote = None  # a process forked from the root is not the root
    for client in list(_CLIENTS):
        client._drop_after_fork()
    _CLIENTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ForkServerClient:
    """One actor's connection to the zygote: fork requests out; replies and exit
    reports in (a reader task in the actor's service nursery)."""

    def __init__(
        self,
        sock: socket.socket,
        zygote_env: dict[str, str],
        zygote_sid: int,
        zygote: trio.Process | None = None,
    ):
        sock.setblocking(False)
        self._sock = trio.socket.from_stdlib_socket(sock)
        self.zygote_env = zygote_env
        self.zygote_sid = zygote_sid  # its session: a forked child can join our group in it
        self.zygote = zygote  # the root's: its process, to wait for at the end
        self.used = False
        self.lost: str | None = None  # why the zygote cannot be used any more
        self.fallback_warned = False
        self._send_lock = trio.Lock()
        self._next_req = 0
        self._pending: dict[int, _Reply] = {}
        # requests sent and not answered yet, in order: the zygote answers each in
        # turn, so one it could not read (refused with no id) is the oldest here
        self._unanswered: deque[int] = deque()
        self._stray_refusals = 0
        self._procs: dict[int, ForkedProcess] = {}
        self._none_left: trio.Event | None = None  # set by _read once _procs is empty
        # our children's lifeline: they see end of file on the read end when we exit;
        # the write end never leaves this process (not inheritable, never sent)
        self._life_r, self._life_w = os.pipe()
        _CLIENTS.add(self)

    def _drop_after_fork(self) -> None:
        """In a process forked by the user's code (a multiprocessing pool): the
        lifeline's write end and the zygote's socket are this actor's alone. Kept
        open there, they would keep the actor's children (and the zygote) alive after
        the actor is gone."""
        for fd in (self._life_r, self._life_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._life_r = self._life_w = -1
        try:
            os.close(self._sock.detach())
        except OSError:
            pass
        self.lost = "the fork server belongs to the process this one was forked from"

    @property
    def zygote_desc(self) -> str:
        return f"the fork server (pid {self.zygote.pid})" if self.zygote else "the fork server"

    async def send(self, msg: Any, fds: list[int] | None = None) -> None:
        anc = rights(fds)
        async with self._send_lock:
            await self._sock.sendmsg([msgspec.msgpack.encode(msg)], anc)

    async def fork(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> ForkedProcess:
        """Ask the zygote for a child; returns once it runs. Raises ForkServerLost
        when the zygote is gone or cannot take the request (spawn another way)."""
        if self.lost is not None:
            raise ForkServerLost(self.lost)
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = ""
        self._next_req += 1
        req = self._next_req
        stdio = [fd for fd in (0, 1, 2) if _is_open(fd)]
        status = _proc_status()
        msg = Fork(
            req=req,
            spec=spec,
            env=env,
            cwd=cwd,
            umask=_current_umask(status),
            stdio=(0 in stdio, 1 in stdio, 2 in stdio),
            sig_ignored=_ignored_signals(status),
            sig_blocked=sorted(int(sig) for sig in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
            pgid=os.getpgrp(),
            limits=_limits(),
        )
        if len(msgspec.msgpack.encode(msg)) > ZYGOTE_MAX_FRAME:
            raise ForkServerLost(f"spawn request over {ZYGOTE_MAX_FRAME} bytes")
        reply = self._pending[req] = _Reply(f"{spec.parent_path}/{spec.name}")
        self.used = True
        try:
            # the request goes out whole (shielded); the wait for the answer can be
            # cancelled: a child forked for a request that gave up is killed when its
            # answer comes (see _read)
            with trio.CancelScope(shield=True), trio.move_on_after(settings.current().boot_timeout):
                self._unanswered.append(req)  # before: the answer may be read at once
                try:
                    await self.send(msg, [self._life_r, *stdio, chan_fd])
                except OSError as exc:
                    self._unanswered.remove(req)
                    raise ForkServerLost(f"{self.zygote_desc} cannot be reached: {exc}") from None
            await self._wait_answer(reply)
        finally:
            self._pending.pop(req, None)
        if reply.proc is not None:
            return reply.proc
        if reply.refused is not None:
            raise ActorBootError(
                f"{self.zygote_desc} refused to start actor "
                f"'{spec.parent_path}/{spec.name}': {reply.refused}"
            )
        if self.lost is not None:
            raise ForkServerLost(self.lost)
        raise ActorBootError(
            f"{self.zygote_desc} did not answer a request to start actor "
            f"'{spec.parent_path}/{spec.name}': it made no progress for "
            f"{settings.current().boot_timeout:g}s (DEVX_BOOT_TIMEOUT)"
        )

    async def _wait_answer(self, reply: _Reply) -> None:
        """Wait for ``reply`` while the zygote makes progress, as a booting child is
        waited for (:mod:`.boot_watch`): the root's zygote may still be importing
        (started by this very spawn, on a loaded machine) and its CPU time says so."""
        pid = self.zygote.pid if self.zygote is not None else None
        progress = Progress(pid, settings.current().boot_timeout)
        with trio.CancelScope() as waiting:
            async with trio.open_nursery() as n:
                n.start_soon(progress.watch, waiting)
                await reply.done.wait()
                n.cancel_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read replies until the zygote or this actor goes away; then wind down."""
        task_status.started()
        try:
            await self._read()  # returns once the zygote is gone
            await trio.sleep_forever()  # our forked children still watch our lifeline
        finally:
            with trio.CancelScope(shield=True):
                await self._until_children_exit()
                await self._close()

    async def _until_children_exit(self) -> None:
        """Cancelled while children forked for us live: a cancel from outside the tree
        (a deadline around the whole root) reaches this service task together with the
        nursery's teardown, which is still stopping them. Go on reading their exits
        until none is left, within the teardown's own bound (the graceful cancel, then
        SIGTERM, then SIGKILL: see the bound below), so that the teardown learns how
        each ended and none of them sees its lifeline end (its parent "dead") under
        the teardown; then close."""
        if not self._procs or self.lost is not None:
            return
        self._none_left = none_left = trio.Event()
        # the teardown's own bound: the graceful cancel's grace, then SIGTERM and
        # SIGKILL TERM_GRACE later; one more grace and the zygote's exit wait of margin
        bound = 2 * settings.current().cancel_grace + TERM_GRACE + EXIT_WAIT
        with trio.move_on_after(bound):
            async with trio.open_nursery() as n:

                async def read() -> None:
                    await self._read()  # the zygote gone: nobody reports exits now
                    n.cancel_scope.cancel()

                n.start_soon(read)
                await none_left.wait()
                n.cancel_scope.cancel()

    async def _read(self) -> None:
        anc_size = socket.CMSG_SPACE(4 * 4)
        while True:
            try:
                data, anc, _flags, _ = await self._sock.recvmsg(
                    ZYGOTE_MAX_FRAME, anc_size, socket.MSG_CMSG_CLOEXEC
                )
            except OSError as exc:
                self._lose(f"{self.zygote_desc} connection failed: {exc}")
                return
            fds = fds_of(anc)
            if not data:
                self._lose(f"{self.zygote_desc} exited")
                return
            try:
                msg = _decoder.decode(data)
            except msgspec.DecodeError as exc:
                log.error("%s sent a bad frame (%s): ignored", self.zygote_desc, exc)
                msg = None
            if isinstance(msg, (Forked, ForkRefused)):
                msg = self._answered(msg)
            if isinstance(msg, Forked):
                pidfd = fds.pop(0) if fds else -1
                reply = self._pending.get(msg.req)
                if reply is not None:
                    proc = ForkedProcess(msg.pid, pidfd, reply.path, msg.start)
                    reply.proc = self._procs[msg.pid] = proc
                    reply.done.set()
                else:  # its request gave up waiting: nobody's child, not left running
                    proc = ForkedProcess(msg.pid, pidfd, "?", msg.start)
                    self._procs[msg.pid] = proc
                    proc.kill()
            elif isinstance(msg, ForkRefused):
                reply = self._pending.get(msg.req)
                if reply is not None and msg.spawn_elsewhere:
                    self.lost = f"{self.zygote_desc} cannot fork: {msg.reason}"
                    reply.done.set()
                elif reply is not None:
                    reply.refused = msg.reason
                    reply.done.set()
                else:  # nothing of ours: said once (a flood of them is one fault)
                    self._stray_refusals += 1
                    if self._stray_refusals == 1:
                        log.error("%s refused a request: %s", self.zygote_desc, msg.reason)
            elif isinstance(msg, ChildExited):
                exited = self._procs.pop(msg.pid, None)
                if exited is not None:
                    exited._set_exit(msg.returncode)
                if not self._procs and self._none_left is not None:
                    self._none_left.set()
            for fd in fds:
                os.close(fd)

    def _answered(self, msg: Forked | ForkRefused) -> Forked | ForkRefused:
        """Mark ``msg``'s request answered; a refusal without an id (the zygote could
        not read the frame) is the answer to the oldest request still unanswered."""
        if msg.req == 0 and isinstance(msg, ForkRefused):
            if not self._unanswered:
                return msg
            req = self._unanswered.popleft()
            why = f"it could not read the request ({msg.reason})"
            return ForkRefused(req=req, reason=why, spawn_elsewhere=msg.spawn_elsewhere)
        if msg.req in self._unanswered:  # those before it were answered (in order)
            while self._unanswered.popleft() != msg.req:
                pass
        return msg

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
        for reply in self._pending.values():
            reply.done.set()
        for proc in self._procs.values():
            proc._exited.set()  # they wait on their pidfds from now on
        self._procs.clear()

    async def _close(self) -> None:
        global _client
        if _client is self:
            _client = None
        self._lose("the actor closed its fork server connection")
        self._sock.close()
        # the actor is done, its children gone: a root running tree after tree in one
        # process does not keep a pipe per tree
        for fd in (self._life_r, self._life_w):
            if fd >= 0:
                os.close(fd)
        zygote = self.zygote
        if zygote is None:
            return
        if not self.used:  # still importing, perhaps: nothing of ours in it
            zygote.kill()
        with trio.move_on_after(EXIT_WAIT):
            await zygote.wait()
        if zygote.returncode is None:
            log.warning("%s did not exit with its root: SIGKILL", self.zygote_desc)
            zygote.kill()
            await zygote.wait()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _proc_status() -> dict[str, str]:
    """This process's ``/proc/self/status`` fields (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
    except OSError:
        pass
    return fields


def _limits() -> bytes:
    """This process's resource limits, as the kernel shows them (empty without
    ``/proc``: the zygote's are kept). One read of a fresh fd: ~10 us."""
    try:
        fd = os.open("/proc/self/limits", os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 8192)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _current_umask(status: dict[str, str]) -> int:
    """The process's umask (Linux tells it without changing it)."""
    try:
        return int(status["Umask"], 8)
    except (KeyError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (the loop's thread only)
    os.umask(mask)
    return mask


def _ignored_signals(status: dict[str, str]) -> list[int]:
    """The signals this process ignores, as the kernel sees them (a spawned child
    inherits those; C code may have set some)."""
    try:
        mask = int(status["SigIgn"], 16)
    except (KeyError, ValueError):
        return [int(s) for s in signal.valid_signals() if signal.getsignal(s) == signal.SIG_IGN]
    return [sig for sig in range(1, mask.bit_length() + 1) if mask >> (sig - 1) & 1]


async def launch(
    secret: str, started: spawn_methods.StartedZygote | None = None
) -> ForkServerClient:
    """Start a tree's zygote (the root calls it first thing: the zygote imports while
    the root sets itself up), or take the one ``open_nursery`` started before the
    root opened (``started``); :func:`serve_root` then makes it the root's."""
    if started is None or started.claimed:
        started = await spawn_methods.start_zygote()
    started.claimed = True
    client = ForkServerClient(started.sock, started.env, os.getsid(0), started.proc)
    try:
        await client.send(ZygoteHello(secret=secret))
    except BaseException:
        await discard(client)
        raise
    return client


async def serve_root(actor: Actor, client: ForkServerClient) -> None:
    """The root forks its children through ``client`` from now on; the zygote stops
    with the actor's service tasks."""
    global _client
    await actor.start_service(client.run)
    _client = client


class RootZygote:
    """The zygote of a root that has not spawned yet: the first spawn starts it (one
    start however many spawn at once); a start that fails leaves the tree spawning
    subprocesses, with a warning."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self._lock = trio.Lock()
        self._tried = False

    async def client(self) -> ForkServerClient | None:
        async with self._lock:
            if not self._tried:
                self._tried = True
                with trio.CancelScope(shield=True):  # started whole, or not at all
                    await self._start()
        return _client

    async def _start(self) -> None:
        try:
            client = await launch(self.actor.secret)
        except OSError as exc:
            log.warning(
                "the fork server cannot start (%s): actors are spawned as subprocesses instead", exc
            )
            return
        try:
            await serve_root(self.actor, client)
        except BaseException:
            await discard(client)
            raise


def start_on_first_spawn(actor: Actor) -> None:
    """The root (``actor``) starts its zygote when it first spawns."""
    global _root_zygote
    _root_zygote = RootZygote(actor)


def end_root() -> None:
    """The root is done: a later tree of this process starts its own zygote."""
    global _root_zygote
    _root_zygote = None


def release(root: Actor) -> None:
    """The nursery that opened ``root`` spawns no more (its block is over, its
    children are asked to end): its zygote may go as soon as they are gone, while
    the root tears itself down, rather than once the root's service tasks end (its
    exit, ~3-5 ms of a big process's memory, was the last step of such a tree's
    teardown). The root says so (:class:`~devx.runtime.msgs.ZygoteRelease`) and reads
    on: the zygote still reports the exits of the root's children, and exits after
    the last (at once when none is left); the root still waits for it
    (:meth:`ForkServerClient._close`). Only the end of the connection (the root's
    exit) makes the zygote kill what is left after its linger: a child at a REPL in
    its teardown is not. A later spawn (none is expected) is a subprocess."""
    global _client
    client = _client
    if client is None or not root.is_root or client.zygote is None:
        return
    _client = None
    try:  # one datagram, written whole or not at all: no frame of a send under way is cut
        os.write(client._sock.fileno(), msgspec.msgpack.encode(ZygoteRelease()))
    except OSError:  # full or gone: the zygote then goes when the root closes its side
        pass


def will_fork() -> bool:
    """Whether this actor's children are forked (now, or once the root's first spawn
    started its zygote)."""
    return _client is not None or _root_zygote is not None


async def _spawn_client() -> ForkServerClient | None:
    """The connection to fork this spawn through, the root's zygote started if need be."""
    if _client is not None:
        return _client
    pending = _root_zygote
    return await pending.client() if pending is not None else None


async def discard(client: ForkServerClient) -> None:
    """A launched zygote the root never served (it failed to start)."""
    with trio.CancelScope(shield=True):
        await client._close()


async def attach_inherited(actor: Actor) -> None:
    """In a child the zygote forked: serve the connection it inherited."""
    global _client, _inherited
    if _inherited is None:
        return
    fd, zygote_env, zygote_sid = _inherited
    _inherited = None
    client = ForkServerClient(socket.socket(fileno=fd), zygote_env, zygote_sid)
    await actor.start_service(client.run)
    _client = client


class ForkServerSpawner:
    """The :class:`~devx.runtime.spawn.Spawner` of a forkserver tree."""

    async def spawn(self, spec: SpawnSpec, env: dict[str, str], chan_fd: int) -> Any:
        client = await _spawn_client()
        if client is None:  # its start failed (said once)
            return await SubprocessSpawner().spawn(spec, env, chan_fd)
        # a forked child joins our process group, which must be in the zygote's session
        if env_compatible(env, client.zygote_env) and os.getsid(0) == client.zygote_sid:
            try:
                return await client.fork(spec, env, chan_fd)
            except ForkServerLost as exc:
                if not client.fallback_warned:
                    client.fallback_warned = True
                    log.warning("%s; actors are spawned as subprocesses instead", exc)
        return await SubprocessSpawner().spawn(spec, env, chan_fd)
