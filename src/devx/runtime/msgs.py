"""Every wire message of the actor runtime, as tagged ``msgspec.Struct`` types.

Frames are decoded strictly into the :data:`Msg` union: an unknown tag, a missing
field or a wrong type is a ``msgspec.ValidationError`` the channel turns into a
:class:`~devx.runtime.errors.MsgTypeError` naming the peer.
"""

# No ``from __future__ import annotations`` here: a child's boot builds decoders for
# these Structs, and msgspec turns each string annotation into a ForwardRef it
# compiles and evaluates (113 of them between msgs and settings, ~6 M instructions
# of every child; a test in tests/test_lazy_imports.py keeps them real)

from collections.abc import MutableMapping
from typing import Any, Literal, NamedTuple

import msgspec

from ..core.settings import Settings


class ActorID(NamedTuple):
    """An actor's identity: its (not necessarily unique) name plus a unique uuid.

    A ``(name, uuid)`` tuple, as the peer project's ids are: it equals and hashes as
    that tuple, so the peer's ``ctxc.canceller == current_actor().aid.uid`` and
    ``uid in registry`` hold with either spelling; on the wire it is the same
    two-item array an ``array_like`` Struct was. Its ``str()`` is ``name@uuid8``
    (messages, banners and telemetry attributes)."""

    name: str
    uuid: str

    def __str__(self) -> str:
        return f"{self.name}@{self.uuid[:8]}"

    @property
    def uid(self) -> tuple[str, str]:
        """``(name, uuid)`` as a plain tuple, as the peer project spells an actor's id."""
        return (self.name, self.uuid)

    def reprol(self, sin_uuid: bool = True) -> str:
        """One-line form (the peer project's name): the name, with the uuid's head
        unless ``sin_uuid``. An id carries no pid: ``Lineage.pid`` has it."""
        return self.name if sin_uuid else f"{self.name}[{self.uuid[:8]}]"


class Lineage(msgspec.Struct, frozen=True):
    """Where an actor sits in its tree; travels to every child at spawn."""

    uid: ActorID
    parent_uid: ActorID | None
    root_uid: ActorID
    path: str  # "root/worker/sub"
    pid: int
    parent_pid: int


class RuntimeConfig(msgspec.Struct, frozen=True):
    """Tree-wide flags handed down to children. The runtime carries them; the debug
    and telemetry layers interpret them through their lifetime hooks."""

    debug_mode: bool = False
    # some actor of the tree may open a REPL (the root's debug_mode, or a child
    # started with debug_mode=True and its subtree): every such actor follows the
    # tree's TTY lock state
    debug_tree: bool = False
    loglevel: str | None = None
    enable_stack_on_sig: bool = False
    maybe_enable_greenback: bool = False
    telemetry: str | None = None  # embedded OTLP-JSON file path, "" = off
    hooks: tuple[str, ...] = ()  # "module:attr" actor lifetime hooks to import
    extra: dict[str, Any] = {}


class SpawnSpec(msgspec.Struct, frozen=True):
    """Read by a child from its spawn pipe: everything it needs to boot.
    Carries the tree secret, which is why it never goes on argv."""

    name: str
    uuid: str
    parent_uid: ActorID
    root_uid: ActorID
    parent_path: str
    parent_addr: tuple[str, int] | str
    root_addr: tuple[str, int] | str
    secret: str
    enable_modules: list[str]
    config: RuntimeConfig
    main_module: str | None = None  # importable name of the root's __main__
    main_path: str | None = None  # or its file path
    sys_path: list[str] = []
    transport: str = "tcp"
    trace_carrier: dict[str, str] = {}
    # the parent actor's pid: with the fork server the OS parent is the zygote
    parent_pid: int = 0
    # the tree's settings, resolved once by the root (a child never re-reads them)
    settings: Settings = Settings()
    # where the tree's registrar listens (devx.runtime.registry); empty: none
    registry_addrs: list[tuple[str, int] | str] = []
    # the host every actor of the tree listens on (TCP): loopback unless the root
    # was given another (trees on other hosts reach it there)
    listen_host: str = "127.0.0.1"
    # run trio as a guest of an asyncio loop (devx.to_asyncio; this actor only)
    infect_asyncio: bool = False


# the variables that are each actor's own (set for it at its spawn, not inherited)
ACTOR_VARS = ("DEVX_ACTOR", "TRACEPARENT", "TRACESTATE")


def set_actor_vars(env: MutableMapping[str, str], spec: SpawnSpec) -> None:
    """Make ``env`` the environment of the actor of ``spec``: its own ``DEVX_ACTOR``
    (its tree path) and its spawn's trace context (``TRACEPARENT``/``TRACESTATE``, the
    OTel carrier variables: a non-devx subprocess of the actor joins its trace)."""
    env["DEVX_ACTOR"] = f"{spec.parent_path}/{spec.name}"
    for key in ("traceparent", "tracestate"):
        if key in spec.trace_carrier:
            env[key.upper()] = spec.trace_carrier[key]
        else:
            env.pop(key.upper(), None)


# --- the IPC protocol ----------------------------------------------------------------

# The wire protocol's version, checked at every hello: the actors of one tree run one
# devx, but trees that find each other through a registry (other hosts) may not, and a
# message one side cannot decode would close the connection mid-session with a frame
# error. Raised with any change an older devx could not read (a new message, a new
# required field). 0 is what a devx from before this field sends (it sends none).
PROTOCOL = 1


class Hello(msgspec.Struct, tag=True):
    """First frame on every connection, from the connecting side."""

    uid: ActorID
    secret: str
    pid: int
    # the connecting actor's tree (its root's id): another tree's actor found through
    # the registry has a root of its own
    root_uid: ActorID | None = None
    proto: int = 0  # its PROTOCOL (0: a devx from before the check)


class HelloAck(msgspec.Struct, tag=True):
    uid: ActorID
    # the accepting actor's tree and trace (W3C traceparent of its actor span): a
    # call into another tree is linked to the callee's trace
    root_uid: ActorID | None = None
    trace: dict[str, str] = {}
    proto: int = 0  # its PROTOCOL; a hello of another PROTOCOL is answered, then closed
    pid: int = 0  # the accepting actor's process (0: a devx from before it was said)


def protocol_mismatch(peer: str, theirs: int, here: str) -> str:
    """Why a connection between two devx versions is refused, for both ends' errors."""
    what = f"wire protocol {theirs}" if theirs else "a devx from before the protocol check"
    return (
        f"{peer} runs {what}, {here} runs wire protocol {PROTOCOL}: "
        "run the same devx version in both trees"
    )


class Start(msgspec.Struct, tag=True, omit_defaults=True):
    """Run ``ns.func(**kwargs)`` in the receiving actor as call ``cid``. Fields at
    their default are not encoded (a call within a tree carries no ``trace``)."""

    cid: int
    ns: str
    func: str
    kwargs: dict[str, Any]
    stream: bool = False  # caller expects Yield frames (async generator)
    context: bool = False  # a @devx.context function: Started, stream frames, then Return
    # a call from another tree: the W3C traceparent of the caller's span, which the
    # callee's span serving the call links back to (schema.REMOTE_CALL_SERVE_SPAN)
    trace: str = ""


class Return(msgspec.Struct, tag=True):
    cid: int
    value: Any


class Yield(msgspec.Struct, tag=True):
    cid: int
    value: Any


class Stop(msgspec.Struct, tag=True):
    """A streaming call finished normally."""

    cid: int


class ErrorInfo(msgspec.Struct):
    """A boxed exception."""

    type_name: str  # "module.QualName"
    message: str
    traceback: str
    src_uid: ActorID
    src_path: str
    src_pid: int
    relay_path: list[str] = []
    # a ContextCancelled: the actor that asked for the cancel (None: not known)
    canceller: ActorID | None = None
    # a user's quit (bdb.BdbQuit): one line per error the tree had before it, so the
    # quit report lists them (a quit ends the tree quietly, never drops a crash)
    errors_before: list[str] = []


class Error(msgspec.Struct, tag=True):
    cid: int  # 0 = not tied to a call (e.g. the actor failed to boot)
    error: ErrorInfo


class CancelCall(msgspec.Struct, tag=True):
    """The caller gave up on call ``cid``: cancel its task."""

    cid: int


# --- contexts (devx.runtime.context) ----------------------------------------------------
# A context is a call (Start with context=True, cid from the caller's CallTable) that
# says Started(first value) before its Return/Error, and in between carries a two-way
# stream. Stream frames name their direction: cids are the caller's, so on a channel
# where both actors open contexts on each other the same cid can mean two contexts.


class Started(msgspec.Struct, tag=True):
    """Callee -> caller: ``ctx.started(value)``; unblocks the caller's open_context."""

    cid: int
    value: Any = None


class StreamItem(msgspec.Struct, tag=True):
    """One message of a context's stream, ``to_callee`` or to the caller."""

    cid: int
    to_callee: bool
    value: Any


class StreamEnd(msgspec.Struct, tag=True):
    """The sender closed its stream (or its side of the context ended): the
    receiver's ``async for`` ends once it drained what arrived before."""

    cid: int
    to_callee: bool


class StreamOpened(msgspec.Struct, tag=True):
    """Callee -> caller: the callee opened its stream, so it may read the caller's
    items: a caller that sends nothing more must say so (:class:`StreamEnd`). A
    caller whose block ends without a stream owes that end only then, not on every
    context (most callees never read)."""

    cid: int


class StreamAck(msgspec.Struct, tag=True):
    """Backpressure credit: the sender of this frame consumed ``n`` more items, so
    its peer may send ``n`` more (each side starts with one window of credit)."""

    cid: int
    to_callee: bool
    n: int


class CancelActor(msgspec.Struct, tag=True):
    """Cancel every task in the actor (tearing down its own subtree) and exit."""

    reason: str = ""


class Register(msgspec.Struct, tag=True):
    """Actor -> registrar: ``uid`` (of the tree ``root_uid``, at ``path`` in it) is
    reachable at ``addr``. Held until :class:`Unregister` or until the channel it came
    over closes (the actor exited or was killed)."""

    uid: ActorID
    addr: tuple[str, int] | str
    root_uid: ActorID
    path: str
    pid: int


class Unregister(msgspec.Struct, tag=True):
    """Actor -> registrar: forget ``uid`` (it is leaving)."""

    uid: ActorID


class CalleeAtRepl(msgspec.Struct, tag=True):
    """Callee -> a caller of another tree: the task serving call ``cid`` stopped at a
    REPL on the callee's own tree's terminal, where the caller's user does not look;
    said once per call, as the REPL takes that terminal."""

    cid: int
    path: str
    pid: int
    reason: str  # what stopped it: pause, crash, breakpoint, ...
    where: str = ""  # the stop's place, "file.py:12 in fn()"


class Ready(msgspec.Struct, tag=True):
    """A child booted (modules imported) and serves calls."""

    pid: int


class Exiting(msgspec.Struct, tag=True):
    """Child -> parent, its channel's last frame: its actor is done and its process
    exits now with ``code`` (its atexit handlers ran, its stdio is flushed; sent right
    before ``os._exit``). A parent whose nursery block is over records the exit with
    it and reaps the process a little later, while its own teardown runs beside the
    kernel's end of the child (see :meth:`~devx.runtime.child_record.ChildRecord.stop`)."""

    code: int


Msg = (
    Hello
    | HelloAck
    | Start
    | Return
    | Yield
    | Stop
    | Error
    | CancelCall
    | CancelActor
    | Ready
    | Exiting
    | Register
    | Unregister
    | Started
    | StreamItem
    | StreamEnd
    | StreamAck
    | StreamOpened
    | CalleeAtRepl
)
Kind = Literal["async", "sync", "asyncgen"]


# --- the fork server (devx.runtime.forkserver <-> devx.runtime.zygote) ------------------
# One datagram per message on a private AF_UNIX SOCK_SEQPACKET socketpair (inherited,
# never a path in the file system). The root's pair is the zygote's first connection;
# each forked actor gets a pair of its own, for its own children.

ZYGOTE_MAX_FRAME = 1 << 20  # a bigger request is refused (a spec is a few KiB)


class ZygoteHello(msgspec.Struct, tag=True):
    """Root -> zygote, first frame: the tree's secret, which every Fork must carry."""

    secret: str


class ZygoteRelease(msgspec.Struct, tag=True):
    """Root -> zygote: the tree spawns no more (the root's nursery block is over). The
    zygote exits as soon as the root's children it forked are gone and their exits
    are reported, while the root tears down. Not "the root is gone": that is only
    the end of the root's connection (then children still there after the linger
    are killed); a child at a REPL in its teardown lives on meanwhile."""


class Fork(msgspec.Struct, tag=True):
    """Fork an actor from ``spec``, run with exactly ``env``, ``cwd``, ``umask`` and
    resource ``limits``.
    Carries fds (SCM_RIGHTS): first the read end of the requester's lifeline pipe,
    whose end of file tells the child that its parent actor died, then the
    requester's stdin, stdout and stderr (those ``stdio`` marks open), which become
    the child's: what a spawned child inherits at the moment of its spawn; last the
    child's end of the socketpair that is its channel to the parent actor."""

    req: int
    spec: SpawnSpec
    env: dict[str, str]
    cwd: str
    umask: int = 0o022
    stdio: tuple[bool, bool, bool] = (True, True, True)
    # the requester's, as a spawned child inherits them: its ignored signals (handled
    # ones are reset to the default, as by exec), its thread's signal mask, its
    # process group (in the zygote's session: the requester checks)
    sig_ignored: list[int] = []
    sig_blocked: list[int] = []
    pgid: int = 0
    # the requester's resource limits (its /proc/self/limits, as a spawned child
    # inherits them; the zygote's own are left where they are the same)
    limits: bytes = b""


class Forked(msgspec.Struct, tag=True):
    """Zygote -> requester: the child runs. Carries the child's pidfd where the kernel
    has them (signals without pid-reuse races)."""

    req: int
    pid: int
    # sent where there is no pidfd (else 0): its start time (clock ticks after boot,
    # /proc/<pid>/stat), which with the pid proves a process is this child
    start: int = 0


class ForkRefused(msgspec.Struct, tag=True):
    req: int  # 0 when the request could not be read at all
    reason: str
    # the request was fine but the zygote cannot fork safely: spawn another way
    spawn_elsewhere: bool = False


class ChildExited(msgspec.Struct, tag=True):
    """Zygote -> requester: a child it forked for this requester exited (the zygote
    is its OS parent and reaps it); ``returncode`` as ``subprocess`` reports it."""

    pid: int
    returncode: int


ZygoteMsg = ZygoteHello | ZygoteRelease | Fork | Forked | ForkRefused | ChildExited
