"""The Actor: one per process. Identity and lineage, the RPC server that runs calls
from peers, the channels to them, and the cancellation of everything it runs."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import hmac
import importlib
import inspect
import logging
import math
import os
import socket
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import AsyncGeneratorType, CoroutineType
from typing import TYPE_CHECKING, Any, cast

import trio

from ..core import events, schema, settings
from ..core import hooks as _hooks
from . import console
from . import inline as _inline
from . import registry as _registry
from .errors import (
    ChannelClosed,
    ContextCancelled,
    ContextError,
    FunctionNotFound,
    IPCEncodeError,
    ModuleNotEnabled,
    MsgTypeError,
    NoRuntime,
    ProtocolMismatch,
    QuitInAnotherTree,
    box_error,
    first_quit,
    has_user_quit,
    is_user_quit,
    strip_cancelled,
    truncated,
    type_name,
)
from .ipc import (
    BYTES_LIKE,
    MAX_FRAME,
    MAX_PREAUTH_FRAME,
    Addr,
    Channel,
    RawFrame,
    connect,
    encode,
    open_listener,
    pack,
    peer_desc,
    peer_uid,
    set_rest_writers,
)
from .log import RateLimited
from .msgs import (
    PROTOCOL,
    ActorID,
    CalleeAtRepl,
    CancelActor,
    CancelCall,
    Error,
    ErrorInfo,
    Exiting,
    Hello,
    HelloAck,
    Lineage,
    Ready,
    Register,
    Return,
    RuntimeConfig,
    SpawnSpec,
    Start,
    Started,
    Stop,
    StreamAck,
    StreamEnd,
    StreamItem,
    StreamOpened,
    Unregister,
    Yield,
    protocol_mismatch,
)
from .workers import CallWorkers

if TYPE_CHECKING:
    from . import context as _context
    from .child_record import ChildRecord
    from .portal import Portal
    from .spawn import ChildProcess

log = logging.getLogger("devx.runtime")
# accept() failing for lack of resources: retried after a pause (trio.serve_listeners')
_ACCEPT_CAPACITY_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS))

HELLO_TIMEOUT = 5.0  # for the HelloAck of an actor we connect to
# an accepted connection must authenticate within this time (a real peer sends its
# Hello right after connecting); at most this many may be waiting to at once: a
# newcomer past that evicts the oldest (a real peer says hello at once, so a flood of
# idle strangers cannot keep one out), and over a Unix socket one peer uid other
# than ours holds at most MAX_PREAUTH_PER_UID of them
MAX_PREAUTH_PENDING = 64
MAX_PREAUTH_PER_UID = MAX_PREAUTH_PENDING // 4
# what a sync function's result cannot be awaited as (no inspect.isawaitable for it,
# whose ABC check costs a sync call's callee ~0.7 us, a tenth of its part of a call)
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, bytearray, list, dict, tuple})
# names kept by Actor.resolve_kind at most (then it starts over)
_BY_NAME_MAX = 1024

_current: Actor | None = None

INERT = object()  # what Actor.plain_service says of a service whose cancel does nothing

# in a call's task: the channel of the caller when it is an actor of another tree
# (found through the registry); a REPL opened by the call says whose call it serves
foreign_caller: contextvars.ContextVar[tuple[Channel, int] | None] = contextvars.ContextVar(
    "devx_foreign_caller", default=None
)
# the cancel scope of the call this task serves (set by Actor._invoke, or _PlainCall.run
# in its parked worker, in the call's own context): cancelled when its caller cancels the
# call or goes away
call_scope: contextvars.ContextVar[trio.CancelScope | None] = contextvars.ContextVar(
    "devx_call_scope", default=None
)
# a call's scope -> the caller that cancelled it (a CancelCall), for the line a REPL
# the call's cancel ends says (weak: gone with the call)
call_cancellers: weakref.WeakKeyDictionary[trio.CancelScope, ActorID | None] = (
    weakref.WeakKeyDictionary()
)


def callee_at_repl_line(me: str, msg: CalleeAtRepl) -> str:
    """What a caller's terminal says when the actor of another tree serving its call
    stops at a REPL: that REPL is on the other tree's terminal, so without it the
    call would only seem to hang here."""
    where = f"{msg.reason} at {msg.where}" if msg.where else msg.reason
    return (
        f"[devx] {me}: actor {msg.path} (pid {msg.pid}, another tree) serving a call of this "
        f"actor's\n       stopped at a REPL on its own tree's terminal ({where}):\n"
        "       the call goes on once that REPL is left\n"
    )


# the longest actor name, in characters: a child's Hello carries its name and must fit
# the 4 KiB pre-authentication frame (255 characters are 1020 bytes at most in UTF-8)
MAX_ACTOR_NAME = 255


def check_actor_name(name: object) -> str:
    """``name`` when it can name an actor: a non-empty string of at most
    :data:`MAX_ACTOR_NAME` characters with no ``/`` (the tree path's separator) and no
    control characters (a name ends up in banners, log lines and argv, where a
    newline would forge a line and a NUL cannot go)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"invalid actor name {name!r}: it must be a non-empty string")
    if len(name) > MAX_ACTOR_NAME:
        raise ValueError(
            f"invalid actor name {name[:40]!r}... ({len(name)} characters): an actor "
            f"name has at most {MAX_ACTOR_NAME} characters"
        )
    bad = sorted({c for c in name if c == "/" or not c.isprintable()})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(
            f"invalid actor name {name!r}: it contains {shown}; use printable "
            "characters other than '/'"
        )
    return name


def current_actor(err_on_no_runtime: bool = True) -> Actor:
    """The actor of this process. Raises :class:`NoRuntime` when none is running
    (or returns ``None`` with ``err_on_no_runtime=False``)."""
    if _current is None and err_on_no_runtime:
        raise NoRuntime("no devx actor runtime is running: open one with devx.open_root_actor()")
    return _current  # type: ignore[return-value]


def is_root_process() -> bool:
    """Whether this process runs the root actor of its tree (the peer project's
    name); ``False`` in a child actor and, as there, when no runtime runs here."""
    actor = _current
    return actor is not None and actor.is_root


def debug_mode() -> bool:
    """Whether this process's actor runs in debug mode (the peer project's name);
    ``False`` when no runtime runs here."""
    actor = _current
    return actor is not None and actor.debug_mode


def _set_current(actor: Actor | None) -> None:
    global _current
    _current = actor


async def _send_reply(chan: Channel, frame: Any) -> None:
    """A frame its sender could not send at once (a reply of :meth:`Actor._call_inline`,
    a cancel request of :func:`send_soon`; an empty one sends the rest of a frame
    ``send_nowait`` began); sent even while the actor is being cancelled."""
    try:
        await chan.send_raw(frame, checkpoint=False, shield=True)
    except ChannelClosed:
        pass


async def send_soon(chan: Channel, frame: Any) -> None:
    """Send ``frame`` without waiting for another sender: at once when the channel is
    free, else (or the rest of it) from a task of the current actor's service
    nursery. For a cancelled task's last word (a CancelCall): it leaves at once, and
    the frame still goes out after the big frame ahead of it, never dropped."""
    if chan.send_nowait(frame):
        if not chan.sending_rest:
            return
        frame = bytearray()  # the rest, which goes out ahead of any next frame
    service = _current._service if _current is not None else None
    if service is not None:
        try:
            service.start_soon(_send_reply, chan, frame)
            return
        except RuntimeError:  # closed to new tasks: the actor's teardown is over
            pass
    await _send_reply(chan, frame)


class Actor:
    """An actor: a trio program in its own process that serves calls from its peers.

    Attributes useful to users and tools: ``name``, ``uid``, ``lineage``, ``path``,
    ``pid``, ``parent_uid``, ``root_uid``, ``is_root``, ``config``, ``listen_addr``.
    """

    def __init__(
        self,
        *,
        lineage: Lineage,
        config: RuntimeConfig,
        secret: str,
        enable_modules: list[str],
        is_root: bool,
        root_addr: Addr | None = None,
        spawn_carrier: dict[str, str] | None = None,
        transport: str = "tcp",
        registry_addrs: list[Addr] | None = None,
        listen_host: str = "127.0.0.1",
    ):
        self.lineage = lineage
        self.config = config
        self.secret = secret
        self.is_root = is_root
        self.root_addr = root_addr
        self.spawn_carrier = spawn_carrier or {}
        self.transport = transport
        self.enabled_modules: set[str] = set()
        self._modules: dict[str, Any] = {}
        # which functions the channel readers run inline; none of the user's in
        # debug mode (greenback portals on): breakpoint()/pause_from_sync() in a
        # call, sync or async, need the call's own task, the reader task has no
        # portal (and its own channel carries the TTY lock's grant)
        greenback_on = config.debug_mode or config.maybe_enable_greenback
        self._inline = _inline.InlineKinds(
            allow_async=not greenback_on, allow_sync=not config.debug_mode
        )
        for name in enable_modules:
            self.enabled_modules.add(name)
        # (ns, func) -> (its module, the function, its code, its inline kind): a call's
        # name looked up again costs a dict get (see resolve_kind)
        self._by_name: dict[tuple[str, str], tuple[Any, Any, Any, int]] = {}
        self.listen_addr: Addr | None = None
        # where ensure_listener() listens: this host, this port (0: any)
        self.listen_host = listen_host
        self.listen_port = 0
        # discovery (devx.runtime.registry): where registrars listen; the table when
        # this actor is the registrar; the channel this actor registered over
        self.registry_addrs: list[Addr] = list(registry_addrs or [])
        self.registry: _registry.Registry | None = None
        # set once a root has decided whether it holds the registry and registered
        # (its set-up done); the thread-side twin is for helper threads, which must
        # not wait on the loop (also set when the actor ends)
        self.registry_settled = trio.Event()
        self.registry_known = threading.Event()
        self.registrar_chan: Channel | None = None
        self._registrar_unreachable = False  # said once per outage, not per retry
        self.spawn_parent_addr: Addr | None = None  # a child: where its parent listens
        self.parent_chan: Channel | None = None
        self._root_portal: Portal | None = None
        self._root_chan: Channel | None = None
        self._root_portal_lock = trio.Lock()
        self._service: trio.Nursery | None = None
        self._rpc: trio.Nursery | None = None
        self._listener_lock = trio.Lock()
        # connections waiting to authenticate, oldest first: their cancel scopes,
        # with the peer's uid over a Unix socket (None: unknown, TCP)
        self._preauth: dict[int, tuple[trio.CancelScope, int | None, str]] = {}
        self._preauth_seq = 0
        self._rejections = RateLimited(log)
        self._rpc_scopes: dict[tuple[int, int], trio.CancelScope] = {}
        # tasks that serve calls, parked between them (not in debug mode: see workers.py)
        self._workers = CallWorkers(park=not greenback_on)
        # contexts this actor runs as the callee, by (id(channel), the caller's cid)
        self.contexts: dict[tuple[int, int], _context.Context] = {}
        # streams (open_stream_from) this actor runs, by the same key: their credit
        self._stream_credits: dict[tuple[int, int], _context.Credit] = {}
        # the actor whose CancelActor cancelled this one (a ContextCancelled names it)
        self.cancel_requested_by: ActorID | None = None
        self._spawn_waiters: dict[str, trio.MemorySendChannel[Channel]] = {}
        # children booting at once (the rest queue): see boot_slots
        self._boot_slots: trio.CapacityLimiter | None = None
        self.children: set[ChildRecord] = set()
        # set by a subprocess child's run (devx.runtime.child) once its body is over:
        # called by running() when the hooks unwound without an error, before the
        # services are cancelled; it may end the process there (never returns then)
        self.end_before_services: Callable[[], None] | None = None
        # the code of services started by start_inert_service_soon
        self._inert_services: set[Any] = set()
        # set once its first child's process is started: set-up that can wait (a
        # root's telemetry load) is done while that child boots
        self.spawned = trio.Event()
        # a child: set once it told its parent it is ready (what can wait for its boot
        # to end, its telemetry writer thread's start, goes then)
        self.reported_ready = trio.Event()
        # the same for helper threads, which wait for it without the trio loop (a loop
        # blocked before the first spawn delays nothing of theirs), also set when the
        # actor ends: work a helper holds back so as not to take the GIL from the way
        # to the first spawn (a root's first `devx ps` advert) goes then, or after a
        # short delay of its own
        self.kick_helpers = threading.Event()
        # the hooks (devx.core.hooks) whose lifetime this actor has entered
        self.hooks: list[Any] = []
        # the peer project's Actor.lifetime_stack: the user's callbacks and context
        # managers, closed once the actor's calls are over (however they ended)
        self.lifetime_stack = contextlib.ExitStack()
        self.cancel_reason: str | None = None
        # the root only: the actor whose user quit a REPL that served another tree's
        # call (no call of this tree carries that quit up): the tree ends as quit
        self.quit_by: str = ""
        # a call of this actor ended in a user's quit (`q` at a REPL): it is ended by
        # the quit, not ok (its telemetry's outcome)
        self.quit_seen = False
        self.cancel_called = trio.Event()
        # for threads that need the actor's loop (trio.from_thread.run(..., trio_token=))
        self.trio_token: trio.lowlevel.TrioToken | None = None
        # how children load the root's __main__: (importable name, file path)
        self.main_ref: tuple[str | None, str | None] = _main_ref()

    # --- identity --------------------------------------------------------------

    @property
    def uid(self) -> ActorID:
        return self.lineage.uid

    @property
    def aid(self) -> ActorID:
        """The peer project's newer spelling of the id (``.name``, ``.uuid``,
        ``.uid``, ``.reprol()``); the same value as :attr:`uid`."""
        return self.lineage.uid

    @property
    def name(self) -> str:
        return self.lineage.uid.name

    @property
    def path(self) -> str:
        return self.lineage.path

    @property
    def pid(self) -> int:
        return self.lineage.pid

    @property
    def boot_slots(self) -> trio.CapacityLimiter:
        """How many of its children boot at once (the rest queue): see boot_watch
        (loaded by the first spawn: an actor that spawns nothing never imports it)."""
        if self._boot_slots is None:
            from .boot_watch import CONCURRENT_BOOTS

            self._boot_slots = trio.CapacityLimiter(CONCURRENT_BOOTS)
        return self._boot_slots

    @property
    def parent_uid(self) -> ActorID | None:
        return self.lineage.parent_uid

    @property
    def root_uid(self) -> ActorID:
        return self.lineage.root_uid

    @property
    def debug_mode(self) -> bool:
        return self.config.debug_mode

    @property
    def loglevel(self) -> str | None:
        """The level this actor was started with, as given (``loglevel=`` of its
        ``start_actor``/``run_in_actor``, else its tree's), None when none was: the
        peer project's ``Actor.loglevel``."""
        return self.config.loglevel

    def is_infected_aio(self) -> bool:
        """Whether this actor's trio runs as a guest of an asyncio loop
        (``infect_asyncio=True``, or ``devx.to_asyncio.run_as_asyncio_guest`` for a
        root): the peer project's ``Actor.is_infected_aio()``."""
        from .runtime_vars import _infected_aio

        return _infected_aio()

    @property
    def msg_buffer_size(self) -> int:
        """The peer project's stream buffer size: here the stream window
        (``DEVX_STREAM_WINDOW``), how many unread items a receiver holds before its
        sender waits (devx streams are credit-based and never overrun)."""
        return settings.current().stream_window

    @property
    def accept_addr(self) -> Addr | None:
        """The peer project's name: where this actor listens (``(host, port)`` or a
        socket path), ``None`` until it listens (an actor listens once something
        needs to reach it: a registrar, a child with children, a discovery)."""
        return self.listen_addr

    @property
    def is_registrar(self) -> bool:
        """Whether this actor holds the registry its trees register with."""
        return self.registry is not None

    async def get_registry(self) -> dict[str, list[Any]]:
        """The peer project's ``Actor.get_registry()`` in a registrar: every registered
        actor as ``{"name.uuid": [address]}`` (``actor.aid.uid in`` its keys split on
        ``.``). Elsewhere ask the registrar: ``async with devx.get_registry() as
        portal: await portal.run_from_ns("self", "get_registry")``."""
        if self.registry is None:
            raise RuntimeError(
                f"actor {self.path!r} is not the registrar: ask it with `async with "
                'devx.get_registry() as portal: await portal.run_from_ns("self", '
                '"get_registry")`'
            )
        await trio.lowlevel.checkpoint()
        return _registry.get_registry()

    def become_registrar(self) -> None:
        """Hold the registry table and serve its lookups (devx.runtime.registry)."""
        if self.registry is None:
            self.registry = _registry.Registry()
            self.enabled_modules.add(_registry.NS)

    def note_registrar_problem(self, addr: Addr, exc: BaseException) -> None:
        """The registrar at ``addr`` did not answer: said once until it does again."""
        if not self._registrar_unreachable:
            self._registrar_unreachable = True
            log.warning(
                "actor %s cannot reach the registrar at %s: %s (it registers as soon as "
                "one answers there)",
                self.path,
                addr,
                exc,
            )

    def note_registered(self, addr: Addr | None) -> None:
        if self._registrar_unreachable:
            self._registrar_unreachable = False
            log.warning("actor %s registered again with the registrar at %s", self.path, addr)

    def __repr__(self) -> str:
        return f"<Actor {self.path} {self.uid} pid={self.pid}>"

    def child_procs(self) -> list[ChildProcess]:
        """This actor's live child actor processes. Signals go through these objects,
        never to a bare pid: each signals its pid only while it is provably that
        child (a pidfd, an unreaped child of ours, or the start time the fork server
        recorded), so a pid reused since the child exited is never signalled."""
        return [c.proc for c in list(self.children) if c.proc is not None and c.exit_code is None]

    def kill_children(self) -> None:
        """SIGKILL this actor's live child processes; safe from any thread (the
        lifeline's, while the loop is blocked)."""
        for proc in self.child_procs():
            try:
                proc.kill()
            except OSError:
                pass

    def term_children(self) -> list[int]:
        """SIGTERM this actor's live child processes (any thread, as
        :meth:`kill_children`); the pids that were sent one."""
        sent = []
        for proc in self.child_procs():
            try:
                proc.terminate()
                sent.append(proc.pid)
            except OSError:
                pass
        return sent

    def lineage_attrs(self) -> dict[str, Any]:
        """Lineage as flat attributes (logs, telemetry, banners)."""
        return schema.lineage_attrs(self.lineage)

    # --- modules ---------------------------------------------------------------

    def enable_module(self, name: str) -> None:
        """Allow peers to call functions of module ``name`` in this actor."""
        self.enabled_modules.add(name)

    def load_modules(self, spec: SpawnSpec | None = None) -> None:
        """Import every enabled module now, so a bad one fails the boot clearly."""
        for name in sorted(self.enabled_modules):
            self._module(name, spec)

    def _module(self, name: str, spec: SpawnSpec | None = None) -> Any:
        mod = self._modules.get(name)
        if mod is not None:
            return mod
        if name == "__main__":
            mod = _load_main(spec)
        else:
            mod = importlib.import_module(name)
        self._modules[name] = mod
        return mod

    def resolve(self, ns: str, func: str) -> Callable[..., Any]:
        if ns not in self.enabled_modules:
            enabled = sorted(m for m in self.enabled_modules if not m.startswith("devx."))
            raise ModuleNotEnabled(
                f"module {ns!r} is not enabled in actor {self.path!r} "
                f"(enable_modules={enabled}); pass enable_modules=[{ns!r}] when starting it"
            )
        obj: Any = self._modules.get(ns) or self._module(ns)
        for part in func.split(".") if "." in func else (func,):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise FunctionNotFound(
                    f"module {ns!r} has no function {func!r} (in actor {self.path!r})"
                ) from None
        if not callable(obj):
            raise FunctionNotFound(f"{ns}.{func} is not callable (in actor {self.path!r})")
        return obj  # type: ignore[no-any-return]

    def resolve_kind(self, ns: str, func: str) -> tuple[Callable[..., Any], int]:
        """:meth:`resolve` and the function's inline kind, kept per name while its
        module is enabled and still holds that function with that code (a function
        rebound or its ``__code__`` swapped is looked up again): two Python calls less
        on every call's critical path in the callee."""
        hit = self._by_name.get((ns, func))
        if hit is not None and ns in self.enabled_modules:
            mod, fn, code, kind = hit
            if mod.__dict__.get(func) is fn and getattr(fn, "__code__", None) is code:
                return fn, kind
        fn = self.resolve(ns, func)
        kind = self._inline.kind(fn)
        mod = self._modules.get(ns)
        if mod is not None and "." not in func:
            if len(self._by_name) >= _BY_NAME_MAX:
                self._by_name.clear()
            self._by_name[(ns, func)] = (mod, fn, getattr(fn, "__code__", None), kind)
        return fn, kind

    # --- lifetime --------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Actor]:
        """Run the actor's service tasks and lifetime hooks around the block.

        Order on the way out: the block (and every served call) finishes or is
        cancelled first, then hooks unwind, then channels and the listener close.
        """
        _set_current(self)
        self.trio_token = trio.lowlevel.current_trio_token()
        try:
            async with trio.open_nursery() as service:
                self._service = service
                set_rest_writers(service)  # (a cancelled sender's half-sent frame)
                hooks_out = False
                try:
                    async with AsyncExitStack() as stack:
                        for path in self.config.hooks:
                            await self._enter_hook(stack, _hooks.load(path))
                        async with trio.open_nursery() as rpc:
                            self._rpc = rpc
                            try:
                                yield self
                            finally:
                                self._workers.close()  # parked workers would keep it open
                    hooks_out = True
                finally:
                    self._close_lifetime_stack()
                    self.kick_helpers.set()  # what a helper held back: now, on the way out
                    self.registry_known.set()
                    await _registry.unregister(self)
                    if hooks_out and self.end_before_services is not None:
                        self.end_before_services()
                    service.cancel_scope.cancel()
        finally:
            self._rpc = self._service = None
            set_rest_writers(None)
            _set_current(None)

    def _close_lifetime_stack(self) -> None:
        """Run what the user put on :attr:`lifetime_stack` (last in, first out); an
        error there is logged, naming the actor, and never replaces the actor's own
        outcome (its calls are over: there is nobody left to raise it to)."""
        try:
            self.lifetime_stack.close()
        except Exception:
            log.exception(
                "actor %s: a callback of its lifetime_stack raised while the actor ended "
                "(the others ran); catch errors in the callback to keep this quiet",
                self.path,
            )

    def end_by_quit(self, path: str) -> None:
        """The root: the user quit the REPL of actor ``path``, which served a call of
        another tree, so no call of this tree carries the quit up to here (the caller
        got :class:`QuitInAnotherTree`): the tree ends as on a quit typed anywhere
        in it (``open_root_actor`` raises :class:`UserQuit` once torn down)."""
        if not self.quit_by:
            self.quit_by = path
        self.quit_seen = True  # (its telemetry's outcome: quit)
        self.cancel(f"the user quit the REPL in actor {path!r}")

    def cancel_soon(self) -> None:
        """The peer project's name for :meth:`cancel`."""
        self.cancel("cancel_soon()")

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel every task the actor runs (served calls, and the body of a root or
        the wait of a child), which tears down its own subtree, then let it exit."""
        if self.cancel_called.is_set():
            return
        self.cancel_reason = reason
        log.debug("actor %s cancelling: %s", self.path, reason)
        events.event(
            schema.ACTOR_CANCEL_REQUESTED, **{schema.CANCEL_REASON: reason}, **self.lineage_attrs()
        )
        self._notify_hooks("actor_cancelling", reason)
        self.cancel_called.set()
        if self._rpc is not None:
            self._rpc.cancel_scope.cancel()

    async def start_service(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Start ``fn`` in the actor's service nursery (it outlives the calls and is
        cancelled last) the way ``nursery.start`` does; returns what it started with."""
        if self._service is None:
            raise RuntimeError(f"actor {self.path!r} is not running")
        return await self._service.start(fn, *args)

    def start_service_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``fn`` in the actor's service nursery the way ``nursery.start_soon``
        does (no wait)."""
        if self._service is None:
            raise RuntimeError(f"actor {self.path!r} is not running")
        self._service.start_soon(fn, *args)

    def start_inert_service_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """:meth:`start_service_soon` for a service whose cancel does nothing (no
        ``finally``, nothing it holds to give back: a wait, then a sync call): a child
        that ends before its services unwind (``child._end_before_services``) ends
        with it still waiting, as with its own listener."""
        self._inert_services.add(getattr(fn, "__code__", None))
        self.start_service_soon(fn, *args)

    async def _enter_hook(self, stack: AsyncExitStack, hook: Any) -> None:
        """Enter ``hook``'s lifetime for this actor; its other methods apply from now
        until the lifetime unwinds."""
        lifetime = getattr(hook, "actor_lifetime", None)
        cm = lifetime(self) if lifetime is not None else None
        if cm is not None:
            await stack.enter_async_context(cm)
        self.hooks.append(hook)
        stack.callback(self.hooks.remove, hook)

    async def run_crash_hooks(self, exc: BaseException) -> BaseException:
        """Let the debug layer (post-mortem REPL) see a crash before it is boxed;
        returns what to report: ``exc``, or what a hook replaced it with (a user's
        quit at the crash REPL, carrying the crash). A user's quit among the
        errors is not a crash: no hook sees it."""
        if has_user_quit(exc):
            return exc
        for hook in list(self.hooks):
            crashed = getattr(hook, "actor_crashed", None)
            if crashed is None:
                continue
            with trio.CancelScope(shield=True):
                try:
                    replaced = await crashed(self, exc)
                except Exception:
                    log.exception("crash hook %r failed", hook)
                    continue
            if replaced is not None:
                return cast(BaseException, replaced)
        return exc

    def _notify_hooks(self, method: str, *args: Any) -> None:
        """The hooks' sync ``method`` (a hook that fails is logged, never raised)."""
        for hook in self.hooks:
            notify = getattr(hook, method, None)
            if notify is not None:
                try:
                    notify(self, *args)
                except Exception:
                    log.exception("hook %r failed", hook)

    def notify_children_cancelled(self) -> None:
        """The hooks' :meth:`~devx.core.hooks.Hook.children_cancelled` (a nursery of
        this actor asked its children to cancel)."""
        self._notify_hooks("children_cancelled")

    def notify_modules_loaded(self) -> None:
        """The hooks' :meth:`~devx.core.hooks.Hook.modules_loaded` (the enabled
        modules were imported after the lifetimes were entered)."""
        self._notify_hooks("modules_loaded")

    def teardown_hooks_wait(self) -> bool:
        """Whether a hook's ``before_teardown`` would wait if the teardown hooks ran
        now (:meth:`~devx.core.hooks.Hook.teardown_waits`; a hook that cannot say is
        taken to wait)."""
        for hook in self.hooks:
            if getattr(hook, "before_teardown", None) is None:
                continue
            waits = getattr(hook, "teardown_waits", None)
            try:
                if waits is None or waits(self):
                    return True
            except Exception:
                log.exception("teardown hook %r failed", hook)
                return True
        return False

    async def run_teardown_hooks(self) -> bool:
        """Called by nurseries before they cancel children and before they escalate
        against one (e.g. wait for a live REPL); True when a hook had to wait."""
        waited = False
        for hook in list(self.hooks):
            before = getattr(hook, "before_teardown", None)
            if before is None:
                continue
            try:
                waited = bool(await before(self)) or waited
            except Exception:
                log.exception("teardown hook %r failed", hook)
        return waited

    # --- listening and connecting ------------------------------------------------

    async def ensure_listener(self) -> Addr:
        """Start the IPC listener the first time it is needed: on ``listen_host``
        (loopback unless the root was given another), any port unless
        ``listen_port`` says which."""
        async with self._listener_lock:
            if self.listen_addr is None:
                assert self._service is not None, "actor is not running"
                # a child's Unix socket goes beside its parent's (a directory the
                # parent checked is private), so a fallback directory is chosen once
                parent = self.spawn_parent_addr
                sock_dir = os.path.dirname(parent) if isinstance(parent, str) else None
                try:
                    listener, addr = await open_listener(
                        self.transport,
                        host=self.listen_host,
                        port=self.listen_port,
                        sock_dir=sock_dir,
                    )
                except OSError as exc:
                    raise self._cannot_listen(exc) from exc
                self.listen_addr = addr
                self._service.start_soon(self._serve_listener, listener)
        return self.listen_addr

    def _cannot_listen(self, exc: OSError) -> OSError:
        """The listener's failure, saying where and what to do (an ``OSError``
        still, with its errno): a bare "[Errno 99] Cannot assign requested address"
        named neither the address nor the setting."""
        import errno

        if self.transport != "tcp":
            return exc
        where = f"{self.listen_host}:{self.listen_port or 0}"
        hint = {
            errno.EADDRNOTAVAIL: "it is no address of this host: give listen_addr one "
            "of its own (`ip addr` lists them)",
            errno.EADDRINUSE: "that port is taken (another tree or service listens "
            "there): give another port, or none",
            errno.EACCES: "that port is privileged: give one above 1023",
        }.get(exc.errno or 0, "check listen_addr (or tpt_bind_addrs)")
        why = exc.strerror or str(exc)
        return OSError(exc.errno, f"actor {self.path!r} cannot listen on {where} ({why}): {hint}")

    async def _serve_listener(self, listener: trio.SocketListener) -> None:
        """Accept connections while the actor runs, each served in a service task:
        ``trio.serve_listeners``' loop, without its nursery and its task per listener,
        and the listener closed at once on the way out (its ``aclose`` has a
        checkpoint): three scheduler passes fewer in every actor's teardown."""
        service = self._service
        assert service is not None
        try:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    log.error(
                        "accept on %s: %s; retrying in 0.1 s",
                        self.listen_addr,
                        os.strerror(exc.errno or 0),
                    )
                    await trio.sleep(0.1)
                else:
                    service.start_soon(self._serve_accepted, stream)
        finally:
            self.close_listener(listener)

    def close_listener(self, listener: trio.SocketListener) -> None:
        """Close a listening socket of this actor (its Unix socket's path removed)."""
        listener.socket.close()
        self.remove_listener_path()

    def remove_listener_path(self) -> None:
        """Remove this actor's Unix socket's path, if it listens on one (a process
        about to end leaves its sockets to the kernel, not that path)."""
        if isinstance(self.listen_addr, str):
            try:
                os.unlink(self.listen_addr)
            except OSError:
                pass

    def plain_service(self, task: trio.lowlevel.Task, parent_chan: Channel | None) -> Any:
        """What ``task`` is when it is one of a child's own services: the listener it
        serves (its accept loop), ``parent_chan`` (the reader of the channel to its
        parent), :data:`INERT` (a service of :meth:`start_inert_service_soon`);
        ``None`` for any other task."""
        code = getattr(task.coro, "cr_code", None)
        frame = getattr(task.coro, "cr_frame", None)
        if frame is None:
            return None
        if code in self._inert_services:
            return INERT
        if code is Actor._serve_listener.__code__:
            return frame.f_locals.get("listener")
        if code is Actor.serve_channel.__code__ and parent_chan is not None:
            return parent_chan if frame.f_locals.get("chan") is parent_chan else None
        return None

    async def _serve_accepted(self, stream: trio.SocketStream) -> None:
        try:
            await self._accepted(stream)
        finally:
            await trio.aclose_forcefully(stream)

    async def _accepted(self, stream: trio.abc.Stream) -> None:
        # until it presents the tree's secret a peer gets little: one small frame
        # (the Hello), a short time to send it, and a place among a few pending
        # connections (the oldest is evicted for a newcomer); its rejections are
        # rate-limited in the log
        chan = Channel(stream, peer_desc=peer_desc(stream))
        uid = peer_uid(stream)
        if uid == os.geteuid():
            uid = None  # ours: only the global budget applies
        self._make_preauth_room(chan, uid)
        self._preauth_seq += 1
        key = self._preauth_seq
        scope = trio.CancelScope()
        self._preauth[key] = (scope, uid, chan.peer)
        msg: Any = None
        try:
            with scope:
                msg = await self._authenticate(chan)
        finally:
            self._preauth.pop(key, None)
        if msg is None:
            await chan.aclose()
            return
        await self._welcome(chan, msg, spawned=False)

    def _make_preauth_room(self, chan: Channel, uid: int | None) -> None:
        """Evict the oldest waiting connection when the budget is full (of this
        peer's uid when it holds its share already)."""
        evict: int | None = None
        if uid is not None:
            same = [k for k, (_, u, _) in self._preauth.items() if u == uid]
            if len(same) >= MAX_PREAUTH_PER_UID:
                evict = same[0]
        if evict is None and len(self._preauth) >= MAX_PREAUTH_PENDING:
            evict = next(iter(self._preauth))
        if evict is None:
            return
        scope, _, desc = self._preauth.pop(evict)
        scope.cancel()
        self._rejections.error(
            "connection from %s rejected: it was the oldest of %d %swaiting to "
            "authenticate, dropped to make room for %s",
            desc,
            MAX_PREAUTH_PER_UID if uid is not None else MAX_PREAUTH_PENDING,
            f"connections of uid {uid} " if uid is not None else "connections ",
            chan.peer,
        )

    def adopt_child_socket(self, sock: socket.socket, uuid: str) -> None:
        """Serve the parent's end of a socketpair whose other end a spawned child
        (``uuid``) inherited: its channel arrives at :meth:`expect_child`'s waiter."""
        assert self._service is not None, "actor is not running"
        self._service.start_soon(self.serve_spawned, sock, uuid)

    async def serve_spawned(self, sock: socket.socket, uuid: str) -> None:
        """Serve a spawned child's channel: the parent's end of the socketpair it
        inherited. No pre-authentication budget (only the child holds the other
        end), no timeout of its own (the boot's applies; the child's exit ends it)."""
        sock.setblocking(False)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        chan = Channel(stream, peer_desc=f"the socket actor {uuid[:8]} inherited")
        msg = await self._authenticate(chan, timeout=None, quiet_eof=True)
        if msg is None or msg.uid.uuid != uuid:
            if msg is not None:
                self._rejections.error("spawned child %s said hello as %s", uuid, msg.uid)
            await chan.aclose()
            return
        await self._welcome(chan, msg, spawned=True)

    async def connect_inherited(self, fd: int) -> Channel:
        """A child: its channel to the parent over the socket it inherited (``fd``,
        kept from any process it starts), its hello sent; :meth:`parent_answered`
        reads the answer (the boot goes on meanwhile: the parent's turn to read the
        hello and answer was ~0.25 ms of the child's boot spent waiting)."""
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        chan = Channel(stream, peer_desc="the parent's socketpair")
        await self._send_hello(chan)
        return chan

    async def parent_answered(self, chan: Channel) -> Channel:
        """The parent's answer to :meth:`connect_inherited`'s hello, as
        :meth:`connect_to` reads it (the channel is closed if it is not an ack)."""
        return await self._hello_answer(chan, "parent")

    async def _welcome(self, chan: Channel, msg: Any, *, spawned: bool) -> None:
        """An authenticated peer: acknowledge, hand a spawned child's channel (and
        only that: never one that came through the listener) to its waiting
        parent, serve it."""
        chan.peer_uid, chan.peer_pid, chan.peer_root = msg.uid, msg.pid, msg.root_uid
        if msg.proto != PROTOCOL:  # answered (a newer devx then says why), then closed
            why = protocol_mismatch(f"actor {msg.uid} (pid {msg.pid})", msg.proto, "this actor")
            self._rejections.error("connection from %s rejected: %s", chan.peer, why)
            with contextlib.suppress(ChannelClosed):
                await chan.send(
                    HelloAck(uid=self.uid, root_uid=self.root_uid, proto=PROTOCOL, pid=os.getpid())
                )
            await chan.aclose()
            return
        if msg.root_uid is not None and msg.root_uid != self.root_uid:
            log.info("actor %s of another tree (root %s) connected", msg.uid, msg.root_uid)
        try:
            ack = HelloAck(uid=self.uid, root_uid=self.root_uid, proto=PROTOCOL, pid=os.getpid())
            if msg.root_uid is not None and msg.root_uid != self.root_uid:
                ack.trace = events.carrier()  # another tree's caller links to our trace
            await chan.send(ack)
        except ChannelClosed:
            await chan.aclose()
            return
        waiter = self._spawn_waiters.pop(msg.uid.uuid, None) if spawned else None
        if waiter is not None:
            waiter.send_nowait(chan)
        await self.serve_channel(chan)

    async def _authenticate(
        self, chan: Channel, *, timeout: float | None = -1.0, quiet_eof: bool = False
    ) -> Any:
        """Read and check a connection's Hello: the Hello, or ``None`` once it was
        rejected (logged; the caller closes it). ``timeout``: the tree's pre-auth
        timeout unless given (``None``: none)."""
        chan.max_frame = MAX_PREAUTH_FRAME
        why: str | None = None
        msg: Any = None
        preauth_timeout = settings.current().preauth_timeout if timeout == -1.0 else timeout
        try:
            with trio.fail_after(preauth_timeout if preauth_timeout is not None else math.inf):
                msg = await chan.recv()
        except trio.TooSlowError:
            why = f"sent no hello in {preauth_timeout:g}s"
        except (MsgTypeError, ChannelClosed) as exc:
            why = str(exc)
        else:
            if not isinstance(msg, Hello):
                got = type(msg).__name__ if msg is not None else "EOF"
                why = f"first frame was {got}, not Hello"
            elif not hmac.compare_digest(msg.secret.encode(), self.secret.encode()):
                why = f"it claims to be {msg.uid} (pid {msg.pid}) but did not present "
                why += "this tree's secret"
        if why is not None:
            if not (quiet_eof and msg is None):  # a child that died: its exit says why
                self._rejections.error("connection from %s rejected: %s", chan.peer, why)
            return None
        chan.max_frame = MAX_FRAME
        return msg

    def expect_child(self, uuid: str) -> trio.MemoryReceiveChannel[Channel]:
        """Register a spawned child's uuid; its channel arrives when it connects back."""
        send, recv = trio.open_memory_channel[Channel](1)
        self._spawn_waiters[uuid] = send
        return recv

    def forget_child(self, uuid: str) -> None:
        self._spawn_waiters.pop(uuid, None)

    async def connect_to(self, addr: Addr, patient: str = "") -> Channel:
        """Open an authenticated channel to another actor of the tree and serve it.
        Something else listening there (a web server on a mistyped port) is a
        ``ConnectionError`` saying so, as a refused connect is an ``OSError``.
        ``patient``: the path of the actor a registrar says listens there (it is up:
        its registration ends with its channel), whose hello is waited for as long
        as its loop is blocked (a REPL at its prompt: a call to it would wait too),
        saying so once after ``HELLO_TIMEOUT``."""
        where = addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}"
        waited_for = f"actor {patient!r} at {where}" if patient else ""
        try:
            return await self._hello(await connect(addr), f"actor at {addr}", waited_for)
        except (trio.TooSlowError, MsgTypeError) as exc:
            if isinstance(exc, trio.TooSlowError):  # silent: a stranger, or a stuck actor
                what = (
                    f"did not answer the hello of actor {self.path!r} within "
                    f"{HELLO_TIMEOUT:g} s: another service on that port, or a devx actor "
                    "whose loop is blocked (a REPL at its prompt, sync code)"
                )
            else:
                what = (
                    f"answered the hello of actor {self.path!r} with no devx frame ({exc}): "
                    "no devx actor listens there (another service on that port?)"
                )
            raise ConnectionError(f"{where} {what}") from None

    async def _hello(self, chan: Channel, who: str, waited_for: str = "") -> Channel:
        await self._send_hello(chan)
        return await self._hello_answer(chan, who, waited_for)

    async def _send_hello(self, chan: Channel) -> None:
        try:
            hello = Hello(
                uid=self.uid,
                secret=self.secret,
                pid=self.pid,
                root_uid=self.root_uid,
                proto=PROTOCOL,
            )
            await chan.send(hello)
        except BaseException:
            await chan.aclose()
            raise

    async def _hello_answer(self, chan: Channel, who: str, waited_for: str = "") -> Channel:
        try:
            if waited_for:
                async with trio.open_nursery() as tn:
                    tn.start_soon(self._say_unanswered, waited_for)
                    ack = await chan.recv()
                    tn.cancel_scope.cancel()
            else:
                with trio.fail_after(HELLO_TIMEOUT):
                    ack = await chan.recv()
        except BaseException:
            await chan.aclose()
            raise
        if not isinstance(ack, HelloAck):
            await chan.aclose()
            raise ChannelClosed(f"{who} did not accept our hello")
        if ack.proto != PROTOCOL:
            await chan.aclose()
            why = protocol_mismatch(f"{who} ({ack.uid})", ack.proto, f"actor {self.path!r}")
            raise ProtocolMismatch(why)
        chan.peer_uid, chan.peer_root, chan.peer_trace = ack.uid, ack.root_uid, ack.trace
        chan.peer_pid = ack.pid or chan.peer_pid
        return chan

    async def _say_unanswered(self, waited_for: str) -> None:
        await trio.sleep(HELLO_TIMEOUT)
        log.warning(
            "%s: %s has not answered for %g s: its loop is blocked (a REPL at its "
            "prompt, or sync code), or another program listens at the address it "
            "registered; waiting for it (ctrl-c, or a trio.fail_after around the call, "
            "to stop)",
            self.path,
            waited_for,
            HELLO_TIMEOUT,
        )

    async def root_portal(self) -> Portal:
        """A portal to the root actor (the parent's channel when it is the root,
        else a direct, lazily opened connection)."""
        chan = await self.root_channel()
        from .portal import Portal  # (an actor that only serves calls never loads it)

        if chan is self.parent_chan:
            return Portal(chan)
        if self._root_portal is None or self._root_portal.channel is not chan:
            self._root_portal = Portal(chan)
        return self._root_portal

    async def root_channel(self) -> Channel:
        """:meth:`root_portal`'s channel (the registrar's, when it is the root)."""
        if self.is_root:
            raise RuntimeError("this actor is the root")
        if self.parent_chan is not None and self.parent_uid == self.root_uid:
            return self.parent_chan
        async with self._root_portal_lock:
            if self._root_chan is None or self._root_chan.closed:
                assert self.root_addr is not None and self._service is not None
                chan = await self.connect_to(self.root_addr)
                self._service.start_soon(self.serve_channel, chan)
                self._root_chan = chan
        return self._root_chan

    # --- serving a channel ---------------------------------------------------------

    async def serve_channel(self, chan: Channel) -> None:
        """Read and dispatch frames until the peer goes away or sends garbage."""
        reason: BaseException = ChannelClosed(f"actor {chan.peer} disconnected")
        try:
            while True:
                try:
                    msg = await chan.serve_recv()
                except (MsgTypeError, ChannelClosed) as exc:
                    if isinstance(exc, MsgTypeError):
                        log.error("%s; closing the connection", exc)
                    # kept as the calls' close reason: without its traceback, whose
                    # frames (this one, the channel's, a large frame's buffer) would
                    # make a cycle that holds a 50 MB frame until the next gc
                    reason = exc.with_traceback(None)
                    break
                if msg is None:
                    break
                self._dispatch(chan, msg)
        finally:
            chan.calls.close_all(reason)
            chan.gone.set()
            for callback in list(chan.on_gone):
                callback()
            if self.registry is not None:
                self.registry.drop_channel(chan)
            if not chan.ready.is_set():
                chan.ready.set()
            for (chan_id, _cid), scope in list(self._rpc_scopes.items()):
                if chan_id == id(chan):
                    scope.cancel()
            await chan.aclose()
            if chan is self.parent_chan and not self.cancel_called.is_set():
                self.cancel(f"lost the channel to the parent actor ({reason})")

    def _dispatch(self, chan: Channel, msg: Any) -> None:
        # (a plain function, as _call_inline: nothing here waits; a coroutine each
        # frame cost its creation and run on the reader's critical path)
        if isinstance(msg, Start):
            assert self._rpc is not None
            # a call from another tree (msg.trace) gets a task, for its span (if any)
            traced = msg.trace and events.enabled()
            if not (msg.stream or msg.context or traced) and self._call_inline(chan, msg):
                chan.wait_first()  # its caller usually sends nothing until it has the reply
                return
            self._start_invoke(chan, msg)
            chan.wait_first()
        elif type(msg) is Return:
            chan.deliver_reply(msg)  # (lends the read baton to a waiting caller)
            chan.wait_first()  # a call's end: its callee has usually no more to send
        elif type(msg) is Started:
            chan.deliver_reply(msg)  # (lends the read baton to a context's waiting caller)
        elif isinstance(msg, (Yield, Stop, StreamOpened)):
            chan.calls.deliver(msg)
        elif isinstance(msg, (StreamItem, StreamEnd, StreamAck)):
            if msg.to_callee:
                credit = self._stream_credits.get((id(chan), msg.cid))
                if credit is not None and isinstance(msg, StreamAck):
                    credit.add(msg.n)  # open_stream_from's receiver read more
                else:
                    from . import context as _context

                    _context.deliver_to_callee(self, chan, msg)
            else:
                chan.calls.deliver(msg)
        elif isinstance(msg, Error):
            if msg.cid == 0:
                chan.boot_error = msg.error
                chan.ready.set()
            else:
                chan.deliver_reply(msg)
                chan.wait_first()
        elif isinstance(msg, CancelCall):
            scope = self._rpc_scopes.get((id(chan), msg.cid))
            if scope is not None:
                ctx = self.contexts.get((id(chan), msg.cid))
                if ctx is not None and ctx._cancelled_by is None:
                    ctx._cancelled_by = chan.peer_uid
                call_cancellers[scope] = chan.peer_uid
                scope.cancel()
        elif isinstance(msg, CancelActor):
            if not self.cancel_called.is_set():
                self.cancel_requested_by = chan.peer_uid
                for ctx in self.contexts.values():
                    if ctx._cancelled_by is None:
                        ctx._cancelled_by = chan.peer_uid
            self.cancel(msg.reason or f"cancel requested by {chan.peer}")
        elif isinstance(msg, Ready):
            chan.peer_pid = msg.pid
            chan.ready.set()
        elif isinstance(msg, Exiting):
            chan.exit_announced = msg.code  # (its parent's ChildRecord reads it)
        elif isinstance(msg, Register):
            if self.registry is None:
                log.error("%s asked %s to register it: not a registrar", chan.peer, self.path)
            elif msg.uid != chan.peer_uid:
                log.error("%s asked to register another actor (%s): refused", chan.peer, msg.uid)
            else:
                self.registry.add(msg, chan)
        elif isinstance(msg, Unregister):
            if self.registry is not None and chan.peer_uid == msg.uid:
                self.registry.remove(msg.uid)
        elif isinstance(msg, CalleeAtRepl):
            self._callee_at_repl(chan, msg)
        else:
            log.error("unexpected %s from %s: ignored", type(msg).__name__, chan.peer)

    def _callee_at_repl(self, chan: Channel, msg: CalleeAtRepl) -> None:
        """An actor of another tree serving a call of this one stopped at a REPL on its
        own tree's terminal: said on this tree's terminal, and as a live mark in this
        tree's trace (linked to the callee actor's start span)."""
        from ..debug import terminal

        line = callee_at_repl_line(self.path, msg)
        console.write(terminal.fit(line, terminal.columns(sys.stderr)))
        if not events.enabled():
            return
        from .discovery import start_span_of

        links: list[events.Link] = []
        target = start_span_of(chan.peer_trace)
        if target is not None:
            trace_id, span_id, flags = target
            traceparent = f"00-{trace_id}-{span_id}-{flags}"
            links.append(events.Link({"traceparent": traceparent}, {schema.LINK_KIND: "callee"}))
        events.live_mark(
            schema.REMOTE_CALL_AT_REPL_SPAN,
            links,
            **{
                schema.CALLEE_PATH: msg.path,
                schema.CALLEE_PID: msg.pid,
                schema.CALLEE_UID: str(chan.peer_uid),
                schema.REASON: msg.reason,
                schema.HOLDER_WHERE: msg.where,
            },
            **self.lineage_attrs(),
        )

    def box(self, exc: BaseException) -> ErrorInfo:
        return box_error(exc, uid=self.uid, path=self.path, pid=self.pid)

    async def _reply(self, chan: Channel, reply: Any) -> None:
        """Send a call's outcome (a message, or a frame already encoded), even from a
        cancelled task; a peer that went away is not an error here."""
        try:
            frame = reply if isinstance(reply, (bytearray, RawFrame)) else pack(reply)
        except IPCEncodeError as exc:  # never lets the actor die of its own reply
            frame = encode(self._unsendable(reply, exc))
        try:
            await chan.send_raw(frame, checkpoint=False, shield=True)
        except ChannelClosed:
            pass

    def _unsendable(self, reply: Any, exc: IPCEncodeError) -> Error:
        """What goes back instead of a reply that cannot be encoded (an error whose
        text is bounded already, so a foreign type among its fields, say)."""
        cid = getattr(reply, "cid", 0)
        what = type(reply).__name__
        if isinstance(reply, Error):
            what = f"error {reply.error.type_name}"
        log.error("actor %s cannot send its reply to call %d: %s", self.path, cid, exc)
        info = ErrorInfo(
            type_name=type_name(IPCEncodeError),
            message=truncated(f"the {what} of this call cannot be sent back: {exc}", "message"),
            traceback="",
            src_uid=self.uid,
            src_path=self.path,
            src_pid=self.pid,
        )
        return Error(cid=cid, error=info)

    def _call_inline(self, chan: Channel, msg: Start) -> bool:
        """Fast path: a call that cannot wait for anything runs right here in the
        reader task and replies at once: a plain sync function, or an ``async def``
        with no suspension point (see :mod:`.inline`); its error is boxed in a task
        of its own (crash hooks, post-mortem). A function that may wait gets a task
        of its own (:meth:`_invoke`) from here, resolved once. Returns False for a
        name that does not resolve: the general path reports why."""
        try:
            fn, kind = self.resolve_kind(msg.ns, msg.func)
        except Exception:
            return False
        if kind == _inline.NOT_INLINE or (kind == _inline.ASYNC and _inline.is_context_fn(fn)):
            self._start_invoke(chan, msg, fn=fn)
            return True
        assert self._rpc is not None
        try:
            result = fn(**msg.kwargs)
            if kind == _inline.ASYNC:
                result = self._run_inline(msg, result)
            elif type(result) not in _PLAIN and inspect.isawaitable(result):  # returned one
                self._start_invoke(chan, msg, result)
                return True
            # (positional: ~0.15 us less; pack only for what may travel raw)
            reply = Return(msg.cid, result)
            frame = pack(reply) if isinstance(result, BYTES_LIKE) else encode(reply)
        except Exception as exc:
            self._rpc.start_soon(self._report_error, chan, msg, exc)
            return True
        except BaseException as exc:  # e.g. SystemExit: boxed as a task would box it
            if kind != _inline.ASYNC:
                raise
            self._rpc.start_soon(self._report_error, chan, msg, exc)
            return True
        # a reader never waits to send: blocked behind another sender's big frame, or
        # on a peer whose socket is full, it would stop reading, and the peer's reader
        # may be blocked sending to us in turn (its own inline reply, or a lock held
        # behind a big frame of ours): both sides wedge until the send stall bound breaks the
        # channel. The reply goes out now, or (the rest of it) from a task.
        if not chan.send_nowait(frame):
            self._rpc.start_soon(_send_reply, chan, frame)
        elif chan.sending_rest:
            self._rpc.start_soon(_send_reply, chan, bytearray())  # (flush, quietly)
        return True

    async def listen_for_call(self, chan: Channel, scope: trio.CancelScope) -> _PlainCall | None:
        """A worker done with a call on ``chan`` waits for the next frame there
        itself, when the channel's reader is idle (parked, or waiting on the socket with
        nothing buffered: :meth:`Channel.evict_reader`) and it can take the read baton,
        or still holds it from the call it served (see below): a call the
        reader would hand to a worker it runs next, in a fresh copy of the reader's
        context, under its scope, named after it, with no scheduler pass between the
        frame's arrival and the call's first step (the reader's hand-over to a parked
        worker is one). Anything else goes to the reader, in order, with the baton;
        the baton goes back as soon as the frame is read, but for a plain call's
        (not a context's): that call keeps it while it passes through one plain
        checkpoint (:func:`.inline.past_a_checkpoint`, :meth:`_PlainCall.run`), and
        a call that ends there, its reply sent at once, keeps it for the next wait
        here: the reader, parked all along, is not woken, armed and evicted again
        for a call that waited for nothing."""
        task = trio.lowlevel.current_task()
        held = chan._baton is task  # kept by the call this worker just served
        if self.cancel_called.is_set() or self._rpc is None or not self._workers.parks:
            if held:
                chan.release_baton()
            return None
        reader = chan._reader_task
        # the reader parked (a caller held the baton) or woken from there: the baton is
        # free to take; waiting on the socket: taken from it
        if not held and (reader is None or not (chan.take_baton() or chan.evict_reader())):
            return None
        keep = False
        try:
            # from its next step: the call runs there, as in a new task (the wait below is
            # a step's end even when the frame is there already)
            if reader is not None:
                task.context = reader.context.copy()
            chan._wait_first = True
            try:
                msg = await chan.recv()
            except (MsgTypeError, ChannelClosed) as exc:
                chan._stash.append(exc)
                return None
            # (a worker told to end meanwhile, its scope cancelled: the reader serves it)
            call = None if scope.cancel_called or reader is None else self._task_call(chan, msg)
            if call is None:  # anything else (None: EOF): the reader's
                chan._stash.append(msg)
                return None
            self._rpc_scopes[(id(chan), msg.cid)] = scope
            task.name = f"{msg.ns}.{msg.func}"
            chan.wait_first()  # (as the reader after a call it handed over)
            keep = call.keeps_baton = call.fn is not None and not msg.context
            return call
        finally:
            if not keep:
                chan.release_baton()

    def _task_call(self, chan: Channel, msg: Any) -> _PlainCall | None:
        """``msg`` as the call the reader would hand to a parked worker under the
        worker's scope (:meth:`_start_invoke`'s ``start_scoped``), else None."""
        if type(msg) is not Start or msg.stream or msg.trace:
            return None
        if msg.context:
            return _PlainCall(self, chan, msg, None, None)
        try:
            fn, kind = self.resolve_kind(msg.ns, msg.func)
        except Exception:
            return None
        if kind == _inline.NOT_INLINE or (kind == _inline.ASYNC and _inline.is_context_fn(fn)):
            return _PlainCall(self, chan, msg, None, fn)
        return None

    def _run_inline(self, msg: Start, coro: Any) -> Any:
        """Run an inline async call's coroutine to its end, the reader task named
        after the call meanwhile as its own task would be: a stack dump or a
        debugger message taken while it blocks the loop names the call."""
        task = trio.lowlevel.current_task()
        reader_name, task.name = task.name, f"{msg.ns}.{msg.func}"
        try:
            return _inline.run_to_end(coro)
        finally:
            task.name = reader_name

    async def _report_error(self, chan: Channel, msg: Start, exc: BaseException) -> None:
        """An inline call's error, handled as :meth:`_invoke` handles a task's."""
        if isinstance(exc, IPCEncodeError):
            exc = IPCEncodeError(f"return value of {msg.ns}.{msg.func} cannot be sent back: {exc}")
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            log.warning("call %s.%s raised %r in %s", msg.ns, msg.func, exc, self.path)
        if not is_user_quit(exc):  # a user's `q` at a REPL is not a crash
            # recorded when raised, before a post-mortem REPL holds it up
            events.exception(exc, **{schema.CALL: f"{msg.ns}.{msg.func}"}, **self.lineage_attrs())
            exc = await self.run_crash_hooks(exc)
        else:
            self.quit_seen = True
        if self.of_another_tree(chan):
            exc = self._quit_for_another_tree(exc)
        await self._reply(chan, Error(cid=msg.cid, error=self.box(exc)))

    def _start_invoke(
        self,
        chan: Channel,
        msg: Start,
        pending: Awaitable[Any] | None = None,
        *,
        fn: Callable[..., Any] | None = None,
    ) -> None:
        assert self._rpc is not None
        name = f"{msg.ns}.{msg.func}"
        # register the scope now so a CancelCall right behind finds it
        if self._workers.parks and not (msg.stream or msg.trace):
            # a plain call or a context: its parked worker's own scope is the call's
            # (see workers.py); a context's ctx.cancel() in the callee cancels it too
            call = _PlainCall(self, chan, msg, pending, fn)
            self._rpc_scopes[(id(chan), msg.cid)] = self._workers.start_scoped(
                self._rpc, name, call
            )
            return
        scope = trio.CancelScope()
        self._rpc_scopes[(id(chan), msg.cid)] = scope
        self._workers.start_soon(self._rpc, name, self._invoke, chan, msg, scope, pending, fn)

    async def _invoke(
        self,
        chan: Channel,
        msg: Start,
        scope: trio.CancelScope,
        pending: Awaitable[Any] | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> None:
        __tracebackhide__ = True  # debuggers (pdbp) show the user's frames only
        key = (id(chan), msg.cid)
        reply: Any
        if self.of_another_tree(chan):
            foreign_caller.set((chan, msg.cid))  # this task's own context
        call_scope.set(scope)
        serving = self._serve_span(chan, msg) if msg.trace else None
        try:
            with scope:
                reply = await self._call(chan, msg, pending, fn)
            if scope.cancelled_caught:
                why = "the caller cancelled the call"
                reply = self._cancelled_reply(msg, why, by=chan.peer_uid)
        except BaseException as exc:
            if strip_cancelled(exc) is None:  # cancelled (alone, or a group of them)
                await self._reply(chan, self._actor_cancelled_reply(msg))
                raise
            reply = await self._failed(msg, exc)
        finally:
            self._rpc_scopes.pop(key, None)
            if serving is not None:
                serving.end()
        await self._reply(chan, reply)

    def _actor_cancelled_reply(self, msg: Start) -> Error:
        return self._cancelled_reply(msg, self.cancel_reason or "cancelled")

    async def _failed(self, msg: Start, exc: BaseException) -> Error:
        """The reply to a call that raised ``exc`` (not a cancel): recorded and passed
        through the crash hooks first, unless it is a user's `q` at a REPL."""
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            log.warning("call %s.%s raised %r in %s", msg.ns, msg.func, exc, self.path)
        report = exc
        if not is_user_quit(exc):  # a user's `q` at a REPL is not a crash
            call = {schema.CALL: f"{msg.ns}.{msg.func}"}
            events.exception(exc, **call, **self.lineage_attrs())
            report = await self.run_crash_hooks(exc)
        else:
            self.quit_seen = True
        if foreign_caller.get() is not None:
            report = self._quit_for_another_tree(report)
        return Error(cid=msg.cid, error=self.box(report))

    def of_another_tree(self, chan: Channel) -> bool:
        """The peer on ``chan`` is an actor of another tree (found through the
        registry): a call from it runs with :data:`foreign_caller` set."""
        return chan.peer_root is not None and chan.peer_root != self.root_uid

    def _quit_for_another_tree(self, exc: BaseException) -> BaseException:
        """A call of another tree's actor that ended in a quit of this tree's user
        (its REPL's ``q``): an error for that caller, not a quit of the caller's tree
        (its user typed nothing). This tree ends by the quit through its lock (the
        REPL's release says so: :meth:`end_by_quit` at the root)."""
        if not has_user_quit(exc):
            return exc
        quit = first_quit(exc)
        path = getattr(quit, "src_path", None) or getattr(quit, "path", None) or self.path
        self._notify_hooks("quit_left_the_tree", path)
        return QuitInAnotherTree.of(path, self.root_uid)

    def _serve_span(self, chan: Channel, msg: Start) -> events.SpanHandle:
        """The span of this tree's trace serving a call from another tree, linked back
        to the caller's span (``msg.trace``), current while the call runs; under a
        mark of its receipt (linked back too) ended at once under this actor's start
        span, so the call is in the live trace from its start, nested and rooted."""
        caller = msg.trace.split("-")
        attrs = {
            schema.REMOTE_CALL_FUNC: f"{msg.ns}.{msg.func}",
            schema.CALLER_UID: str(chan.peer_uid),
            schema.CALLER_ROOT: str(chan.peer_root),
            **self.lineage_attrs(),
        }
        if len(caller) == 4:
            attrs[schema.LINK_TRACE_ID], attrs[schema.LINK_SPAN_ID] = caller[1], caller[2]
        link = events.Link({"traceparent": msg.trace}, {schema.LINK_KIND: "caller"})
        mark = events.live_mark(schema.REMOTE_CALL_RECEIVED_SPAN, [link], **attrs)
        return events.enter_live_span(schema.REMOTE_CALL_SERVE_SPAN, [link], mark, **attrs)

    def _cancelled_reply(self, msg: Start, why: str, by: ActorID | None = None) -> Error:
        by = by or self.cancel_requested_by or self.uid
        if by != self.uid:
            why = f"{why} (requested by actor {by})"
        info = ErrorInfo(
            type_name=type_name(ContextCancelled),
            message=f"{msg.ns}.{msg.func} in actor {self.path!r} was cancelled: {why}",
            traceback="",
            src_uid=self.uid,
            src_path=self.path,
            src_pid=self.pid,
            canceller=by,
        )
        return Error(cid=msg.cid, error=info)

    async def _call(
        self,
        chan: Channel,
        msg: Start,
        pending: Awaitable[Any] | None,
        fn: Callable[..., Any] | None = None,
        keep: Callable[[], None] | None = None,
    ) -> Any:
        """The call's encoded reply (or the exception it raised). ``keep``: the
        read baton's release, when this task holds it (a plain call read by its
        worker, :meth:`listen_for_call`): called before the call waits for anything
        (see :func:`.inline.past_a_checkpoint`); the caller releases it otherwise."""
        __tracebackhide__ = True
        cid = msg.cid
        if keep is not None and (pending is not None or fn is None or msg.context or msg.stream):
            keep()  # (listen_for_call keeps it for none of these)
            keep = None
        if pending is not None:
            return self._return(msg, await pending)
        if fn is None:
            fn = self.resolve(msg.ns, msg.func)
        if msg.context:
            # contexts load on their first use: an actor serving plain calls never does
            # (then kept: an import statement here cost each context two Python calls)
            run_callee = _run_callee or _load_run_callee()
            return self._return(msg, await run_callee(self, chan, msg, fn))
        if _inline.is_context_fn(fn):
            raise ContextError(
                f"{msg.ns}.{msg.func} is a @devx.context function (in actor {self.path!r}): "
                "open it with portal.open_context(), not portal.run()"
            )
        if msg.stream:
            if not inspect.isasyncgenfunction(fn):
                raise TypeError(f"{msg.ns}.{msg.func} is not an async generator function")
            agen = fn(**msg.kwargs)
            from .context import Credit, ItemNow, item_now

            # backpressure: at most a window of items the caller has not read yet
            credit = self._stream_credits[(id(chan), cid)] = Credit()
            item_now.set(ItemNow(chan, cid, credit, call_scope.get()))  # this task's own
            try:
                async for value in agen:
                    try:
                        frame = pack(Yield(cid=cid, value=value))
                    except IPCEncodeError as exc:
                        raise IPCEncodeError(
                            f"value yielded by {msg.ns}.{msg.func} cannot be sent: {exc}"
                        ) from None
                    try:
                        await credit.take()
                        await chan.send_raw(frame)
                    except ChannelClosed:
                        # the caller went away: nobody to stream to, not a crash
                        log.debug("%s.%s: caller %s gone", msg.ns, msg.func, chan.peer)
                        break
            finally:
                self._stream_credits.pop((id(chan), cid), None)
                with trio.CancelScope(shield=True):
                    await agen.aclose()
            return Stop(cid=cid)
        # what fn returned tells what it is (calling an async generator function runs
        # none of its code): no inspect per call on this hot path
        result = fn(**msg.kwargs)
        kind = type(result)
        if kind is CoroutineType:
            if keep is None:
                result = await result
            else:  # its worker holds the read baton: kept past a first checkpoint
                result = await _inline.past_a_checkpoint(result, keep)
        elif kind is AsyncGeneratorType and inspect.isasyncgenfunction(fn):
            raise TypeError(f"{msg.ns}.{msg.func} is an async generator: use open_stream_from()")
        elif kind not in _PLAIN and inspect.isawaitable(result):
            if keep is not None:
                keep()
            result = await result
        return self._return(msg, result)

    def _return(self, msg: Start, result: Any) -> bytearray | RawFrame:
        """The encoded ``Return``: encoded here, inside the call, so an unencodable
        result is the call's error (boxed), and only once."""
        try:
            reply = Return(msg.cid, result)  # (pack only for what may travel raw)
            return pack(reply) if isinstance(result, BYTES_LIKE) else encode(reply)
        except IPCEncodeError as exc:
            raise IPCEncodeError(
                f"return value of {msg.ns}.{msg.func} cannot be sent back: {exc}"
            ) from None


_run_callee: Callable[..., Awaitable[Any]] | None = None  # context.run_callee, once loaded


def _load_run_callee() -> Callable[..., Awaitable[Any]]:
    global _run_callee
    from .context import run_callee

    _run_callee = run_callee
    return run_callee


class _PlainCall:
    """A plain call or a context served as :meth:`Actor._invoke` serves it, under its
    parked worker's cancel scope instead of a scope of its own (see workers.py): what it
    answers, records and raises is the same, and so is where (its crash hooks and a
    cancelled call's answer run with no cancelled scope around them, as outside the
    call's). ``keeps_baton``: read by its worker, which holds the channel's read baton
    (:meth:`Actor.listen_for_call`): given back before the call waits for anything,
    before its reply when that cannot go out at once, before anything but its reply."""

    __slots__ = ("actor", "chan", "fn", "keeps_baton", "msg", "pending")

    def __init__(
        self,
        actor: Actor,
        chan: Channel,
        msg: Start,
        pending: Awaitable[Any] | None,
        fn: Callable[..., Any] | None,
    ):
        self.actor, self.chan, self.msg, self.pending, self.fn = actor, chan, msg, pending, fn
        self.keeps_baton = False

    async def run(self, scope: trio.CancelScope) -> None:
        __tracebackhide__ = True  # debuggers (pdbp) show the user's frames only
        actor, chan, msg = self.actor, self.chan, self.msg
        keep = chan.release_baton if self.keeps_baton else None
        self.keeps_baton = False
        if actor.of_another_tree(chan):
            foreign_caller.set((chan, msg.cid))  # this task's own context
        call_scope.set(scope)
        pending, self.pending = self.pending, None
        try:
            reply = await actor._call(chan, msg, pending, self.fn, keep)
        except BaseException as exc:
            if keep is not None and chan.holds_baton():
                chan.release_baton()
            if scope.cancel_called or strip_cancelled(exc) is None:
                raise  # answered by unwound(), outside the scope
            # no longer the call's: a late CancelCall must not reach its crash hooks
            actor._rpc_scopes.pop((id(chan), msg.cid), None)
            reply = await actor._failed(msg, exc)
        else:
            actor._rpc_scopes.pop((id(chan), msg.cid), None)
            if keep is not None and chan.holds_baton():
                # still the channel's reader: the reply goes out now, the baton kept for
                # the worker's next wait there (listen_for_call); else given back first
                # (a reader never waits to send, see Actor._call_inline)
                sent = isinstance(reply, (bytearray, RawFrame)) and chan.send_nowait(reply)
                if sent and not chan.sending_rest:
                    return
                chan.release_baton()
                if sent:  # its rest, as _reply would write it
                    with contextlib.suppress(ChannelClosed):
                        await chan.flush()
                    return
        await actor._reply(chan, reply)

    def listener(self) -> Any:
        return functools.partial(self.actor.listen_for_call, self.chan)

    def leave(self) -> None:
        """Its worker will not wait for a next call: the read baton (if kept) goes back."""
        chan = self.chan
        if chan.holds_baton():
            chan.release_baton()

    async def unwound(self, exc: BaseException | None) -> None:
        __tracebackhide__ = True
        actor, chan, msg = self.actor, self.chan, self.msg
        actor._rpc_scopes.pop((id(chan), msg.cid), None)
        if exc is None:  # its caller cancelled it (or went away)
            why = "the caller cancelled the call"
            reply: Error = actor._cancelled_reply(msg, why, by=chan.peer_uid)
        elif strip_cancelled(exc) is None:  # cancelled (alone, or a group of them)
            await actor._reply(chan, actor._actor_cancelled_reply(msg))
            raise exc
        else:
            reply = await actor._failed(msg, exc)
        await actor._reply(chan, reply)


def _main_ref() -> tuple[str | None, str | None]:
    """How a child can load this process's main module (as multiprocessing does).
    ``__main__`` first: ``__mp_main__`` is what ``import multiprocessing`` aliased
    ``__main__`` to when it ran, which is a launcher's own script when the launcher
    imported it before running the user's (``coverage run script.py``: the children
    loaded bin/coverage). ``__mp_main__`` is the one in a process whose ``__main__``
    is no script (a child's boot, which loaded the root's script under that name)."""
    for name in ("__main__", "__mp_main__"):
        main = sys.modules.get(name)
        mod_spec = getattr(main, "__spec__", None)
        if mod_spec is not None and mod_spec.name not in ("__main__", "__mp_main__"):
            if not mod_spec.name.startswith("devx.runtime."):
                return mod_spec.name, None
        path = getattr(main, "__file__", None)
        if path is None and name == "__main__" and sys.flags.inspect and sys.argv[:1] != [""]:
            # `python -i script.py` at its prompt: Python took __file__ out of
            # __main__ when the script ended, the script's globals are still there
            path = sys.argv[0]
        if path and os.path.isfile(path) and not path.endswith(os.path.join("runtime", "child.py")):
            return None, os.path.abspath(path)
    return None, None


def _reran_trio_run(exc: BaseException) -> bool:
    """Whether loading the root's script failed because it starts trio at import."""
    return isinstance(exc, RuntimeError) and "from inside a run()" in str(exc)


def rerun_hint(path: str) -> str:
    """What to do when a child loading the root's script runs its ``trio.run``
    again (the multiprocessing spawn message, for devx)."""
    return (
        f"the child actor loaded the root's script {path!r} to find the functions "
        "it was asked to run, and the script started trio again at import "
        '(trio.run(...) outside `if __name__ == "__main__":`). Put the script\'s '
        "entry point under that guard:\n\n"
        '    if __name__ == "__main__":\n'
        "        trio.run(main)\n\n"
        "as with multiprocessing's spawn: the child loads the script under another "
        "name, so the guarded block runs only in the root."
    )


def _is_main_of(module: Any, spec: SpawnSpec) -> bool:
    """Whether ``module`` is the root's main module ``spec`` names."""
    if spec.main_module is not None:
        return getattr(module, "__name__", None) == spec.main_module
    path = getattr(module, "__file__", None)
    return path is not None and os.path.abspath(path) == spec.main_path


def _load_main(spec: SpawnSpec | None) -> Any:
    """Load the root script's main module under a safe name (``__mp_main__``), the
    way multiprocessing's spawn does: its ``if __name__ == '__main__':`` block does
    not run again. An ``__mp_main__`` already there is reused only when it is that
    script: ``import multiprocessing`` aliases ``__mp_main__`` to whatever
    ``__main__`` is at that moment (coverage's startup hook in every child process,
    ``coverage run`` in the root), and that module has none of the script's
    functions."""
    existing = sys.modules.get("__mp_main__")
    if spec is None:  # the root: its own main module (as _main_ref finds it)
        main = sys.modules["__main__"]
        if existing is not None and getattr(main, "__file__", None) is None:
            return existing  # (a root whose __main__ is no script: a spawn worker's)
        return main
    if existing is not None and _is_main_of(existing, spec):
        return existing
    if spec.main_module is None and spec.main_path is None:
        raise ModuleNotEnabled(
            "'__main__' is enabled but the root's main module has no file to load "
            "(interactive session or python -c?), or the actor was started with "
            "inherit_parent_main=False"
        )
    if spec.main_module is not None:
        mod = importlib.import_module(spec.main_module)
    else:
        assert spec.main_path is not None
        from importlib.util import module_from_spec, spec_from_file_location

        mod_spec = spec_from_file_location("__mp_main__", spec.main_path)
        if mod_spec is None or mod_spec.loader is None:
            raise ImportError(f"cannot load the parent's main script {spec.main_path!r}")
        mod = module_from_spec(mod_spec)
        sys.modules["__mp_main__"] = mod
        try:
            mod_spec.loader.exec_module(mod)
        except BaseException as exc:
            del sys.modules["__mp_main__"]
            if _reran_trio_run(exc):
                raise RuntimeError(rerun_hint(spec.main_path)) from exc
            raise
        # a script run by path has no spec, as in the root (and in multiprocessing's own
        # spawn children): multiprocessing's spawn started from this actor reads the
        # spec's name to re-import the main module, and no module is named __mp_main__
        mod.__spec__ = None
    sys.modules["__mp_main__"] = mod
    sys.modules["__main__"] = mod
    return mod
