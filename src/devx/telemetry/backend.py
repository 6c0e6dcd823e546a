"""The ``events.Backend`` installed while telemetry is on, fast to boot.

Why a front: importing the OpenTelemetry SDK, structlog and an exporter costs tens of
milliseconds (even the OTel *API* costs ~3 ms), which must not sit on a child actor's
spawn-to-ready path. So this module imports only the stdlib. From the first microsecond
it hands out real trace/span ids (it generates them), keeps the current devx span in
its own context variable (so every trio task inherits it), and records spans, span
events and log records with their wall-clock timestamps. A background thread loads the
sink a little later (the SDK-free :mod:`devx.telemetry.file_sink` for the telemetry file
alone, else the SDK pipeline of :mod:`devx.telemetry.otel`), replays what was recorded
into it with the same ids, parents and timestamps, and from then on every call goes
straight to the sink (with the SDK, activated spans also become the current OTel span, so
user instrumentation nests under them). Anything that needs the data out (``flush``, a
crash, a stack dump, actor exit) kicks the loader and waits for it, bounded.

Every wait here has a timeout, and a failure to load or export is one warning, never an
exception in the runtime.
"""

from __future__ import annotations

import contextvars
import logging
import random
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, cast

from ..core import schema, tb_text
from ..core.events import LIVE_PARENT, Attrs, Link
from ..core.threads import start_thread
from ..runtime.errors import safe_str
from . import config

log = logging.getLogger("devx.telemetry")

# OTel SeverityNumber values (the enum lives in a module we do not import here)
SEV_INFO, SEV_WARN, SEV_ERROR = 9, 13, 17
SAMPLED = 0x01

SYNC_EVENTS = frozenset({schema.STACK_DUMP, schema.CRASH})
# records that make a run worth a look afterwards: a turn at the terminal (a REPL),
# a crash, an error arriving from a child, a stack dump (see boot: the exit notice)
NOTABLE_EVENTS = frozenset(
    {schema.LOCK_GRANTED, schema.CRASH, schema.REMOTE_ERROR, schema.STACK_DUMP}
)
"""Point events written out synchronously (flushed before the call returns)."""
SYNC_TIMEOUT = 1.0
_RECORDED = "__devx_recorded__"  # set on an exception once it is on record
MAX_PENDING = 20_000  # spans + log records kept while the SDK loads
# the exporters' share of an exit's bound, whatever the SDK's load took of it (see
# TelemetryBackend.shutdown): at worst an exit waits 1.4x the bound (a child: 2.1 s of
# its parent's 3 s cancel grace by default)
EXPORT_SHARE = 0.4

_warned: set[str] = set()


def reset_warnings() -> None:
    """Forget which warnings were given, and whose they are to give (tests: a test
    that started a child actor's session left the process a tree member, whose
    tree-wide warnings go to debug level, for every test after it)."""
    global _tree_member
    _warned.clear()
    _tree_member = False


# warnings every actor of a tree would give alike (they all export to the same
# collector): only the root says them; the other actors log them at debug level
_TREE_WIDE = ("export:", "flush-", "shutdown-", "otel:")
# settings every actor of a tree shares (the OTLP protocol, the tree's telemetry file
# and its directory): the root says them, once
_SAID_BY_ROOT = frozenset({"otlp-protocol", "grpc", "otlp-missing", "export:file", "file", "load"})
_tree_member = False


def tree_member(flag: bool) -> None:
    """This process is a non-root actor: leave tree-wide warnings to the root."""
    global _tree_member
    _tree_member = flag


# the telemetry file this process writes beside its OTLP export (None: none), so
# that a failing collector's warning says where the records still are, if anywhere
_file_beside: str | None = None


def file_beside_collector(path: str | None) -> None:
    """This process also writes the telemetry file ``path`` (None: no file)."""
    global _file_beside
    _file_beside = path


def warn_once(key: str, msg: str) -> None:
    """One warning per ``key`` per process, on the ``devx.telemetry`` logger; one per
    tree for what every actor would say alike (a dead collector)."""
    if key.startswith(_TREE_WIDE) and key != "export:file":  # the file is not a collector
        # a failing collector: every exporter, flush and SDK logger says so its own
        # way; the first one speaks for all of them, once
        key = "collector"
        cause = msg if len(msg) <= 300 else msg[:299] + "…"
        kept = (
            f"the telemetry file {_file_beside} still has them"
            if _file_beside
            else "no telemetry file is written: DEVX_TELEMETRY_FILE=PATH keeps one too"
        )
        msg = (
            f"exporting to the OTLP collector fails ({cause}); records may be missing "
            f"there ({kept}); not said again"
        )
    if key in _warned:
        return
    _warned.add(key)
    if _tree_member and (key == "collector" or key in _SAID_BY_ROOT):
        log.debug("devx telemetry: %s", msg)
        return
    log.warning("devx telemetry: %s", msg)


def warned(key: str) -> bool:
    """Whether the warning ``key`` was given in this process (e.g. ``export:file``)."""
    return key in _warned


class Ids(NamedTuple):
    """A span's identity as plain ints, without importing OpenTelemetry."""

    trace_id: int
    span_id: int
    flags: int = SAMPLED
    tracestate: str | None = None
    remote: bool = False


SpanLink = tuple[Ids, dict[str, Any]]
"""A span link as the sinks take it: the linked span's ids and the link's attributes."""


def span_links(links: Sequence[Link]) -> tuple[SpanLink, ...]:
    """The valid links among ``links`` (a carrier without a valid ``traceparent`` is
    none), as remote span contexts."""
    out = []
    for link in links:
        tp = config.parse_carrier(link.carrier)
        if tp is not None:
            out.append(
                (
                    Ids(tp.trace_id, tp.span_id, tp.flags, tp.tracestate, True),
                    clean(link.attrs or {}),
                )
            )
    return tuple(out)


class Sink(Protocol):
    """What a sink (``file_sink.FileSink`` or the SDK's ``otel.OtelSink``) offers the front."""

    def start(
        self,
        name: str,
        attrs: Mapping[str, Any],
        parent: Ids | None,
        *,
        start_ns: int | None = None,
        ids: Ids | None = None,
        links: Sequence[SpanLink] = (),
    ) -> Any:
        """Start an SDK span (``ids`` forces its ids: a replayed early span)."""
        ...

    def ids_of(self, span: Any) -> Ids: ...

    def set_error(self, span: Any, description: str) -> None: ...

    def activate(self, span: Any) -> object:
        """Make ``span`` the current OTel span; returns a token for :meth:`deactivate`."""
        ...

    def deactivate(self, token: object) -> None: ...

    def current_otel_span(self) -> Any | None:
        """The current OTel span if it is valid and recording, else ``None``."""
        ...

    def log(
        self,
        name: str | None,
        attrs: Mapping[str, Any],
        ids: Ids | None,
        ts: int,
        severity: int,
        body: str | None,
    ) -> None: ...

    def flush(self, timeout: float) -> bool: ...

    def flush_logs(self, timeout: float) -> bool: ...

    def shutdown(self, timeout: float) -> bool: ...


# --- attribute helpers -------------------------------------------------------------

_PRIMS = (str, bool, int, float)
_EXACT_PRIMS = frozenset(_PRIMS)


def clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """OTel-valid attributes: drop ``None``, keep primitives and homogeneous sequences,
    stringify anything else (paths, ActorIDs ...)."""
    if _EXACT_PRIMS.issuperset(map(type, attrs.values())):
        return dict(attrs)  # the common case, checked in one pass without a Python loop
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, _PRIMS):
            out[k] = v
        elif isinstance(v, (list, tuple)):
            kinds = {type(x) for x in v}
            if len(kinds) <= 1 and kinds <= {str, bool, int, float}:
                out[k] = tuple(v)
            else:
                out[k] = tuple(str(x) for x in v)
        else:
            out[k] = str(v)
    return out


def type_name(exc: BaseException) -> str:
    t = type(exc)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def collapse(exc: BaseException) -> BaseException:
    """Unwrap exception groups of one (trio wraps even a lone error)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def exception_attrs(exc: BaseException) -> dict[str, Any]:
    """``exception.type/message/stacktrace`` per the OTel semantic conventions, plus the
    origin of a boxed remote error (a ``RemoteActorError``'s ``info``). A group of one
    is described by its only member (the stacktrace still shows the whole group)."""
    stack = tb_text.format_exception(exc, exc.__traceback__)
    exc = collapse(exc)

    attrs: dict[str, Any] = {
        "exception.type": type_name(exc),
        "exception.message": safe_str(exc),
        "exception.stacktrace": stack,
    }
    info = getattr(exc, "info", None)
    if info is not None and hasattr(info, "type_name") and hasattr(info, "src_path"):
        attrs[schema.REMOTE_TYPE] = info.type_name
        attrs[schema.REMOTE_MESSAGE] = info.message
        attrs[schema.REMOTE_SRC_PATH] = info.src_path
        attrs[schema.REMOTE_SRC_UID] = str(info.src_uid)
        attrs[schema.REMOTE_SRC_PID] = info.src_pid
        if info.relay_path:
            attrs[schema.REMOTE_RELAY_PATH] = tuple(info.relay_path)
    return attrs


def _crash_locals(exc: BaseException) -> str | None:
    """``devx.crash.locals`` for a crash record, unless the setting turns it off."""
    from devx.core import settings

    conf = settings.current()
    if not conf.crash_locals:
        return None
    from .crash_locals import collect

    return collect(exc, pattern=conf.crash_locals_redact)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def status_line(exc: BaseException, here: str | None = None) -> str:
    """An ERROR status message: one line naming the exception's type, its message's
    first line and the actor it came from (``from actor`` for an error boxed in another
    actor, ``in actor`` for this one's, ``here``). A span's status is what a trace
    view shows in its list; the traceback is on the ``exception`` event."""
    exc = collapse(exc)
    info = getattr(exc, "info", None)
    if info is not None and hasattr(info, "type_name") and hasattr(info, "src_path"):
        short = str(info.type_name).removeprefix("builtins.")
        msg = _first_line(str(info.message))
        return f"{short}{': ' + msg if msg else ''} (from actor {info.src_path})"[:1024]
    msg = _first_line(safe_str(exc))
    head = f"{type_name(exc)}{': ' + msg if msg else ''}"
    if isinstance(exc, BaseExceptionGroup):
        srcs = []
        for sub in exc.exceptions:
            sub = collapse(sub)
            sub_info = getattr(sub, "info", None)
            src = getattr(sub_info, "src_path", None) or here
            srcs.append(
                f"{type_name(sub) if sub_info is None else sub_info.type_name}"
                f"{' from ' + src if src else ''}"
            )
        head += " [" + "; ".join(s.removeprefix("builtins.") for s in srcs[:8]) + "]"
    return f"{head}{f' (in actor {here})' if here else ''}"[:1024]


def is_cancellation(exc: BaseException) -> bool:
    """trio.Cancelled, GeneratorExit, KeyboardInterrupt, or a group of only those:
    recorded, but not an error status."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_cancellation(e) for e in exc.exceptions)
    return isinstance(exc, (GeneratorExit, KeyboardInterrupt)) or type(exc).__name__ == "Cancelled"


def is_user_quit(exc: BaseException) -> bool:
    """A user's `q` (or ctrl-d) at a REPL, raised here: ``bdb.BdbQuit`` (devx's
    ``UserQuit`` too). Not a crash: no ERROR status, no crash record (the tree's
    outcome says `quit`); one arriving from another actor is a remote error event."""
    bdb = sys.modules.get("bdb")  # (no REPL ever ran here without it)
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def _new_span_id() -> int:
    return random.getrandbits(64) or 1


def _new_trace_id() -> int:
    return random.getrandbits(128) or 1


def child_ids(parent: Ids | None, flags: int = SAMPLED) -> Ids:
    """Fresh ids for a span under ``parent`` (its trace and tracestate), or the first
    span of a new trace."""
    if parent is None:
        return Ids(_new_trace_id(), _new_span_id(), flags)
    # tuple.__new__: the NamedTuple's generated __new__ is a Python call more per span
    span_id = random.getrandbits(64) or 1
    return _new_ids(Ids, (parent.trace_id, span_id, flags, parent.tracestate, False))


_new_ids = tuple.__new__


# --- spans ---------------------------------------------------------------------------


class DevxSpan:
    """A span with final ids. Before the SDK is loaded it records what is done to it;
    afterwards (``real`` set, by replay or because it was born later) it forwards to the
    real SDK span. Also wraps foreign OTel spans (user instrumentation) as event targets."""

    __slots__ = (
        "_front",
        "attrs",
        "end_ns",
        "error",
        "ids",
        "links",
        "name",
        "ops",
        "parent",
        "real",
        "start_ns",
    )

    def __init__(
        self,
        front: TelemetryBackend,
        name: str,
        ids: Ids,
        parent: Ids | None,
        attrs: dict[str, Any],
        start_ns: int,
        real: Any = None,
        links: tuple[SpanLink, ...] = (),
    ) -> None:
        self._front = front
        self.name = name
        self.ids = ids
        self.parent = parent
        self.links = links
        self.attrs = attrs
        self.start_ns = start_ns
        self.ops: list[tuple[Any, ...]] = []
        self.end_ns: int | None = None
        self.error: str | None = None  # the ERROR status message, once set
        self.real = real

    def __repr__(self) -> str:
        return f"<DevxSpan {self.name} {self.ids.span_id:016x} real={self.real is not None}>"

    def _record(self, op: tuple[Any, ...]) -> None:
        with self._front._lock:
            if self.real is None:
                if self.end_ns is None:
                    self.ops.append(op)
                return
        self._front._apply(self.real, op)

    def is_recording(self) -> bool:
        real = self.real
        return bool(real.is_recording()) if real is not None else self.end_ns is None

    def set_attributes(self, attrs: Mapping[str, Any]) -> None:
        real = self.real
        if real is not None:
            real.set_attributes(attrs)
        else:
            self._record(("attrs", dict(attrs)))

    def add_event(self, name: str, attrs: Mapping[str, Any], ts: int) -> None:
        real = self.real
        if real is not None:
            real.add_event(name, attrs, ts)
        else:
            self._record(("event", name, dict(attrs), ts))

    def set_error(self, description: str) -> None:
        self.error = description
        self._record(("error", description))

    def end(self, ts: int | None = None) -> None:
        ts = ts or time.time_ns()
        real = self.real  # once set (under the lock, by the replay) it stays
        if real is None:
            with self._front._lock:
                real = self.real
                if real is None:
                    if self.end_ns is None:
                        self.end_ns = ts
                    return
        real.end(ts)


_CURRENT: contextvars.ContextVar[DevxSpan | None] = contextvars.ContextVar(
    "devx_current_span", default=None
)
_ACTIVE: list[TelemetryBackend] = []  # the installed front(s), newest last


def current_ids() -> Ids | None:
    """Ids of the span a log line belongs to: the live current OTel span if the SDK is
    loaded (user spans included), else the current devx span, else the actor span."""
    front = _ACTIVE[-1] if _ACTIVE else None
    if front is None:
        return None
    span = front.current()
    return span.ids if span is not None else None


# --- the handle returned to events.span()/start_span() ------------------------------


class Handle:
    """``events.SpanHandle`` over a :class:`DevxSpan`; ``end()`` is idempotent and
    restores the previous current span if this one was activated."""

    __slots__ = ("__weakref__", "_ended", "_front", "_otel_token", "_ref", "_token", "span")

    def __init__(self, front: TelemetryBackend, span: DevxSpan) -> None:
        self._front = front
        # a DevxSpan, or a span of the file sink standing in for one (the same
        # methods and attributes: see TelemetryBackend.open)
        self.span = span
        self._token: contextvars.Token[DevxSpan | None] | None = None
        self._otel_token: object | None = None
        self._ended = False
        self._ref: weakref.ref[Handle] | None = front._track(self)

    def set(self, **attrs: Any) -> None:
        self.span.set_attributes(clean(attrs))

    def event(self, name: str, **attrs: Any) -> None:
        self._front._event_on(self.span, name, clean(attrs))

    def note(self, name: str, **attrs: Any) -> None:
        # on the span only: a log record costs the sink a record of its own (each
        # side of a context paid two, started and result, ~1/3 of the context)
        span = self.span
        real = span.real  # straight to the sink's span once there is one
        (span if real is None else real).add_event(
            name, clean(attrs) if attrs else {}, time.time_ns()
        )

    def record_exception(self, exc: BaseException, **attrs: Any) -> None:
        self._front._exception_on(self.span, exc, clean(attrs))
        if not is_cancellation(exc) and not is_user_quit(exc):
            self.span.set_error(status_line(exc, self._front.here))

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        # the reference goes with this call: its callback (for a handle dropped
        # without end()) is not run when the handle goes
        ref, self._ref = self._ref, None
        if ref is not None:
            self._front._open.pop(ref, None)
        self.span.end()
        if self._otel_token is not None:
            sink = self._front.sink
            token, self._otel_token = self._otel_token, None
            if sink is not None:
                sink.deactivate(token)
        if self._token is not None:
            token2, self._token = self._token, None
            try:
                _CURRENT.reset(token2)
            except ValueError:  # ended from another task/context: nothing to restore
                pass

    @property
    def ids(self) -> Ids:
        return self.span.ids


# --- the backend -------------------------------------------------------------------


class TelemetryBackend:
    """``events.Backend`` implementation: records until the sink is loaded, then
    forwards. ``sink_factory`` builds the SDK pipeline (called on the loader thread)."""

    takes_start_ns = True  # start_span(start_ns=): see events.open_span

    def __init__(
        self,
        sink_factory: Callable[[], Sink],
        *,
        log_attrs: Mapping[str, Any] | None = None,
        cheap_sink: Callable[[], bool] | None = None,
    ) -> None:
        self._factory = sink_factory
        # True when the sink builds without heavy imports or I/O (the file sink): an
        # exit may then build it itself; any other load is only ever waited for, bounded
        self._inline_ok = cheap_sink or (lambda: False)
        # reentrant: a signal handler may emit while this thread is inside a record call
        self._lock = threading.RLock()
        self._sink: Sink | None = None
        self._sink_otel = True  # the sink has an OTel context (current span, activation)
        self._spans: list[DevxSpan] = []
        self._logs: list[tuple[Any, ...]] = []
        self._dropped = 0
        self._failed = False
        self.notable: set[str] = set()  # NOTABLE_EVENTS this process recorded
        self._closed = False
        self._loaded = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._flusher: threading.Thread | None = None
        self._flush_kick = threading.Event()
        self._after_load: list[Callable[[], None]] = []
        self._load_claimed = False
        self.log_attrs = dict(log_attrs or {})
        self.home: DevxSpan | None = None  # the actor span: target when nothing is current
        # the actor path status lines name ("in actor root/a"), from the lineage
        self.here: str | None = self.log_attrs.get(schema.ACTOR_PATH)
        self.crash_line: str | None = None  # status of this actor's latest own error
        # this actor's start span (schema.ACTOR_START_SPAN): parent of live spans,
        # handed to children in the spawn carrier
        self.anchor: Ids | None = None
        self._flush_on_load = False  # a flush asked for before the sink was in
        # open spans' handles (a Handle, or a file sink's span: its own), oldest first
        self._open: dict[weakref.ref[Any], None] = {}
        _ACTIVE.append(self)

    def _track(self, handle: Any) -> weakref.ref[Any]:
        """Keep a weak reference to an open span's handle, dropped at its end (or
        when the handle goes without end()); one callback for all, no closure each."""
        ref = weakref.ref(handle, self._untrack)
        self._open[ref] = None  # (insertion order: oldest first)
        return ref

    def _untrack(self, ref: weakref.ref[Any]) -> None:
        self._open.pop(ref, None)

    def end_open_spans(self, keep: tuple[Handle | None, ...] = ()) -> int:
        """End spans still open at exit (a lock hold or REPL cut short by a crash or
        cancellation), newest first, marked ``devx.span.unfinished``: an unended span
        is never exported. Returns how many were ended."""
        n = 0
        for ref in reversed(list(self._open)):
            handle = ref()
            if handle is None or handle in keep:
                continue
            handle.set(**{"devx.span.unfinished": True})
            handle.end()
            n += 1
        return n

    def end_at_hard_exit(
        self, marks: Mapping[str, Any], status: str, keep: tuple[Any, ...] = ()
    ) -> int:
        """A hard exit (from another thread than the actor's, which is blocked): end
        every open span but ``keep``, newest first, with ``marks`` and the ERROR
        ``status``, as :meth:`end_open_spans` does at a normal exit. Only the spans are
        ended: the context a span was made current in belongs to the blocked thread
        (nothing is reset there). Returns how many were ended."""
        n = 0
        for _ in range(3):  # another thread may open or end a span meanwhile
            try:
                refs = list(self._open)
                break
            except RuntimeError:
                continue
        else:
            return 0
        for ref in reversed(refs):
            handle = ref()
            if handle is None or handle in keep:
                continue
            self._open.pop(ref, None)
            span = handle.span
            span.set_attributes(clean({"devx.span.unfinished": True, **marks}))
            span.set_error(status)
            span.end()
            n += 1
        return n

    # -- loading ---------------------------------------------------------------

    def start_loading(self, delay: float = 0.0, then: Callable[[], None] | None = None) -> None:
        """Load the sink on a daemon thread after ``delay`` s, or as soon as something
        needs the data out; that thread runs ``then`` afterwards (also when the load
        was an exit's, see :meth:`shutdown`: the kick wakes it)."""
        if self._thread is not None:
            return

        def run() -> None:
            try:
                self._load(delay)
            finally:
                if then is not None:
                    then()

        # signals blocked from the start; the SDK's exporter threads inherit the mask
        self._thread = start_thread(run, "devx-telemetry-load")

    def kick_load(self) -> None:
        """Start the delayed load now (any thread)."""
        self._kick.set()

    def load_inline(self) -> bool:
        """Load the sink on this thread now, and write what is pending through it
        without a helper thread when it can (:meth:`FileSink.write_pending_now`): a
        cheap sink (the file sink) in an actor's boot. False: the load was another's."""
        if not self._claim_load():
            return False
        self._load_claimed_now(inline=True)
        return True

    def load_now(self) -> None:
        """Load the sink synchronously on this thread (tests, eager use)."""
        if self._thread is None and not self._loaded.is_set():
            self._load(0.0)

    def after_load(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loader thread once the sink is in (or failed to load)."""
        self._after_load.append(fn)

    @property
    def loaded(self) -> bool:
        return self._sink is not None

    @property
    def sink(self) -> Sink | None:
        return self._sink

    def _claim_load(self) -> bool:
        """Take the one load of this backend (the loader thread or an exit that comes
        first, see :meth:`shutdown`); False if another thread has it."""
        with self._lock:
            if self._load_claimed:
                return False
            self._load_claimed = True
            return True

    def _load(self, delay: float) -> None:
        if delay > 0:
            self._kick.wait(delay)
        if self._claim_load():
            self._load_claimed_now()

    def _load_claimed_now(self, inline: bool = False) -> None:
        sink: Sink | None = None
        try:
            sink = self._factory()
        except Exception as exc:
            warn_once("load", f"could not start telemetry ({exc}); telemetry off")
        with self._lock:
            if sink is not None and not self._closed:
                try:
                    self._replay(sink)
                except Exception as exc:  # pragma: no cover - defensive
                    warn_once("replay", f"replaying early telemetry failed: {exc!r}")
                # a sink without an OTel context (the file sink) is never asked for it
                self._sink_otel = getattr(sink, "otel_context", True)
                self._sink = sink
            else:
                self._failed = True
            self._spans.clear()
            self._logs.clear()
        if sink is not None and self._sink is None:
            sink.shutdown(0.5)
        for fn in self._after_load:  # before "loaded": a flush then finds logging set up
            try:
                fn()
            except Exception as exc:
                warn_once(f"after_load:{fn!r}", f"telemetry setup step failed: {exc!r}")
        self._loaded.set()
        sink = self._sink
        write_now = getattr(sink, "write_pending_now", None) if inline else None
        if write_now is not None and not self._closed:
            # a sink that writes what is pending on this thread (the file sink: its
            # writer thread starts then, for what comes later)
            write_now()
        elif self._flush_on_load and sink is not None and not self._closed:
            # asked for while loading (the start spans, a hold granted in the first
            # second): out now, not at the exporter's next scheduled batch (~1 s). On
            # the loader thread; a load done inline (a trio thread's boot) hands the
            # export to a helper thread: a slow collector must not hold the caller
            if threading.current_thread() is self._thread:
                _flush_quietly(sink)
            else:
                try:
                    start_thread(lambda: _flush_quietly(sink), "devx-telemetry-flush-on-load")
                except RuntimeError:  # interpreter shutting down
                    pass

    def _replay(self, sink: Sink) -> None:
        for p in self._spans:
            real = sink.start(
                p.name, p.attrs, p.parent, start_ns=p.start_ns, ids=p.ids, links=p.links
            )
            for op in p.ops:
                self._apply(real, op, sink)
            if p.end_ns is not None:
                real.end(p.end_ns)
            p.real = real
            p.ops = []
        for rec in self._logs:
            sink.log(*rec)
        if self._dropped:
            warn_once("dropped", f"{self._dropped} early telemetry records dropped (buffer full)")

    def _apply(self, span: Any, op: tuple[Any, ...], sink: Sink | None = None) -> None:
        kind = op[0]
        if kind == "attrs":
            span.set_attributes(op[1])
        elif kind == "event":
            span.add_event(op[1], op[2], op[3])
        elif kind == "error":
            (sink or self._sink).set_error(span, op[1])  # type: ignore[union-attr]

    def _wait_loaded(self, timeout: float) -> bool:
        if self._sink is not None:
            return True
        self._kick.set()
        if self._thread is None:
            return False
        return self._loaded.wait(max(0.0, timeout)) and self._sink is not None

    # -- spans -----------------------------------------------------------------

    def current(self) -> DevxSpan | None:
        """The span events attach to: a live user OTel span (once the SDK is loaded),
        else the current devx span if it is still open, else the actor span (``home``),
        e.g. in a thread that did not inherit the context."""
        cur = _CURRENT.get()
        sink = self._sink
        if sink is not None and self._sink_otel:
            otel_span = sink.current_otel_span()
            if otel_span is not None and (cur is None or otel_span is not cur.real):
                return DevxSpan(self, "", sink.ids_of(otel_span), None, {}, 0, real=otel_span)
        if cur is not None and cur.is_recording():
            return cur
        return self.home if self.home is not None else cur

    def open(
        self,
        name: str,
        attrs: Mapping[str, Any],
        parent: Ids | bool | None = True,
        activate: bool = False,
        links: Sequence[Link] = (),
        start_ns: int = 0,
    ) -> Handle:
        """Start a span. ``parent=True``: under the current span (or ``home``);
        an :class:`Ids`: under it (e.g. from a spawn carrier); ``None``: a new trace.
        ``links``: spans of other traces it refers to. ``start_ns``: it began then
        (default: now)."""
        sink = self._sink
        if sink is None or self._sink_otel:
            if parent is True:
                cur = self.current()
                parent_ids = cur.ids if cur is not None else None
            else:
                parent_ids = parent or None
            span = self._start(
                name, clean(attrs), parent_ids, span_links(links) if links else (), start_ns
            )
            handle = Handle(self, span)
            if activate:
                handle._token = _CURRENT.set(span)
                sink = self._sink
                if sink is not None and span.real is not None and self._sink_otel:
                    handle._otel_token = sink.activate(span.real)
            return handle
        # the file sink, loaded: its span is the span (nothing to record for a replay,
        # no OTel context) and its own handle, with no DevxSpan nor Handle in front of
        # it; what current() does, inline. Those layers were ~1/3 of the cost of each
        # side's span of a context (open, two notes, end)
        if parent is True:
            cur = _CURRENT.get()
            if cur is None or not cur.is_recording():
                cur = self.home if self.home is not None else cur
            parent_ids = cur.ids if cur is not None else None
        else:
            parent_ids = parent or None
        open_span = cast(Any, sink).open_span  # FileSink.open_span
        # (a FileSpan: the same methods and attributes as a Handle)
        return cast(
            Handle,
            open_span(
                self,
                name,
                clean(attrs),
                parent_ids,
                activate,
                span_links(links) if links else (),
                start_ns,
            ),
        )

    def _start(
        self,
        name: str,
        attrs: dict[str, Any],
        parent: Ids | None,
        links: tuple[SpanLink, ...] = (),
        start_ns: int = 0,
    ) -> DevxSpan:
        start = start_ns or time.time_ns()
        sink = self._sink
        if sink is None:
            with self._lock:
                sink = self._sink
                if sink is None:
                    ids = child_ids(parent)
                    p = DevxSpan(self, name, ids, parent, attrs, start, links=links)
                    if self._failed or self._closed:
                        p.end_ns = start  # inert: keeps ids for propagation, records nothing
                    elif len(self._spans) >= MAX_PENDING:
                        self._dropped += 1
                        p.end_ns = start
                    else:
                        self._spans.append(p)
                    return p
        real = sink.start(name, attrs, parent, start_ns=start, links=links)
        return DevxSpan(self, name, sink.ids_of(real), parent, attrs, start, real, links)

    # -- point events ------------------------------------------------------------

    def _log(
        self,
        name: str | None,
        attrs: Mapping[str, Any],
        ids: Ids | None,
        ts: int,
        severity: int = SEV_INFO,
        body: str | None = None,
    ) -> None:
        if name in NOTABLE_EVENTS:
            self.notable.add(name)
        sink = self._sink
        if sink is None:
            with self._lock:
                sink = self._sink
                if sink is None:
                    if self._failed or self._closed:
                        return
                    if len(self._logs) >= MAX_PENDING:
                        self._dropped += 1
                        return
                    self._logs.append((name, dict(attrs), ids, ts, severity, body))
                    return
        sink.log(name, attrs, ids, ts, severity, body)

    def _event_on(self, span: DevxSpan | None, name: str, attrs: dict[str, Any]) -> None:
        ts = time.time_ns()
        if span is not None:
            span.add_event(name, attrs, ts)
        msg = attrs.get("message")
        body = msg if isinstance(msg, str) else name
        self._log(name, attrs, span.ids if span is not None else None, ts, SEV_INFO, body)
        if name in SYNC_EVENTS:
            self._sync(SYNC_TIMEOUT)

    def _exception_on(
        self, span: DevxSpan | None, exc: BaseException, attrs: dict[str, Any]
    ) -> None:
        ts = time.time_ns()
        exc = collapse(exc)  # trio's group of one is the error inside it
        ex = exception_attrs(exc)
        remote = schema.REMOTE_TYPE in ex
        if not remote and is_user_quit(exc):
            return  # the user's decision, not a crash (see is_user_quit)
        cancel = is_cancellation(exc)
        if not cancel and not remote:
            # the span of the actor (or call) whose code raised: ERROR, with the
            # real type and message (a remote error arriving is not this one's)
            self.crash_line = status_line(exc, self.here)
            if span is not None:
                span.set_error(self.crash_line)
        if getattr(exc, _RECORDED, False):
            return  # already on record (where it was raised): once is the truth
        try:
            setattr(exc, _RECORDED, True)
        except (AttributeError, TypeError):
            pass
        if not cancel and not remote:
            found = _crash_locals(exc)
            if found is not None:
                ex[schema.CRASH_LOCALS] = found
        if span is not None:
            span.add_event("exception", {**ex, **attrs}, ts)
        name = schema.REMOTE_ERROR if remote else (schema.CANCELLED if cancel else schema.CRASH)
        self._log(
            name,
            {**self.log_attrs, **ex, **attrs},
            span.ids if span is not None else None,
            ts,
            SEV_WARN if cancel else SEV_ERROR,
            f"{ex['exception.type']}: {ex['exception.message']}"[:4096],
        )
        if not cancel:
            self._sync(SYNC_TIMEOUT, wait=not _on_trio_thread())

    def _sync(self, timeout: float, *, wait: bool = True) -> None:
        """Write logs out now: a stack dump (asked for by a person or a CI job) must
        survive the kill that often follows, so it is flushed before the call
        returns (bounded). A crash recorded on a trio loop is flushed on the flusher
        thread instead (``wait=False``): a dead or silent collector must cost the loop
        nothing (the root serves the TTY lock from it)."""
        if self._sink is None:
            self._flush_on_load = True
        if wait:
            deadline = time.monotonic() + timeout
            if self._wait_loaded(timeout):
                sink = self._sink
                if sink is not None:
                    sink.flush_logs(max(0.05, deadline - time.monotonic()))
            return
        self._flush_kick.set()
        if self._flusher is None:
            with self._lock:
                if self._flusher is None and not self._closed:
                    try:
                        self._flusher = start_thread(
                            lambda: self._flush_loop(timeout), "devx-telemetry-sync"
                        )
                    except RuntimeError:  # interpreter shutting down
                        pass

    def _flush_loop(self, timeout: float) -> None:
        while True:
            self._flush_kick.wait()
            self._flush_kick.clear()
            if self._closed:
                return
            deadline = time.monotonic() + timeout
            try:
                if self._wait_loaded(timeout):
                    sink = self._sink
                    if sink is not None:
                        sink.flush_logs(max(0.05, deadline - time.monotonic()))
            except Exception:  # a failed export is the exporter's to report
                pass

    # -- events.Backend ---------------------------------------------------------

    def start_span(
        self,
        name: str,
        attrs: Attrs,
        *,
        activate: bool,
        parent: Any = None,
        links: Sequence[Link] = (),
        start_ns: int = 0,
    ) -> Handle:
        ids: Ids | bool = True
        if parent is None:
            sink = self._sink
            if sink is not None and not self._sink_otel and not links:
                # the file sink, under the current span (a context's each side): in
                # one step, see open()
                cur = _CURRENT.get()
                if cur is None or not cur.is_recording():
                    cur = self.home if self.home is not None else cur
                open_span = cast(Any, sink).open_span  # FileSink.open_span
                return cast(
                    Handle,
                    open_span(
                        self,
                        name,
                        dict(attrs)
                        if _EXACT_PRIMS.issuperset(map(type, attrs.values()))
                        else clean(attrs),
                        cur.ids if cur is not None else None,
                        activate,
                        (),
                        start_ns,
                    ),
                )
            # under the current span (the common case)
        elif parent is LIVE_PARENT:
            if self.anchor is not None:
                ids = self.anchor
        else:  # a span's handle: a Handle, or a file sink's span (its own handle)
            ids = parent.ids
        return self.open(name, attrs, ids, activate, links, start_ns)

    def event(self, name: str, attrs: Attrs) -> None:
        self._event_on(self.current(), name, clean(attrs))

    def exception(self, exc: BaseException, attrs: Attrs) -> None:
        self._exception_on(self.current(), exc, clean(attrs))

    def carrier(self) -> dict[str, str]:
        span = self.current()
        if span is None:
            return {}
        ids = span.ids
        out = {"traceparent": config.format_traceparent(ids.trace_id, ids.span_id, ids.flags)}
        if ids.tracestate:
            out["tracestate"] = ids.tracestate
        anchor = self.anchor
        if anchor is not None and anchor.trace_id == ids.trace_id:
            out[schema.ANCHOR_CARRIER_KEY] = f"{anchor.span_id:016x}"
        return out

    def flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self._sink is None:
            self._flush_on_load = True  # the loader flushes once in, however long it takes
        if self._wait_loaded(timeout):
            sink = self._sink
            if sink is not None:
                sink.flush(max(0.0, deadline - time.monotonic()))

    def flush_when_loaded(self) -> None:
        """Export what is recorded so far as soon as the sink is in (no thread, no
        wait): the start spans a live trace hangs from."""
        if self._sink is None:
            self._flush_on_load = True
        else:
            self._sync(SYNC_TIMEOUT, wait=False)

    def linger(self) -> None:
        """A teardown starts: the sink's writer waits for its burst of records (see
        :meth:`FileSink.linger`); nothing for a sink without one."""
        linger = getattr(self._sink, "linger", None)
        if linger is not None:
            linger()

    def wait_ready(self, timeout: float) -> bool:
        if self._failed or self._closed:
            return True  # nothing will ever be exported: nothing to wait for
        return self._wait_loaded(timeout)

    def shutdown(self, timeout: float) -> None:
        """Flush and stop, bounded by ``timeout``; records still pending if the SDK did
        not load in time are dropped (with one warning).

        A load still under way may take the whole bound: it is this host's work (the
        SDK's imports), not the collector's, and a short-lived actor on a busy machine
        exits before its loader is done (a child whose SDK load took 0.4-0.9 s with 8-16
        busy loops on 2 cores, against 0.6 of its 1.5 s then: its records were dropped,
        every one, with the collector up). The exporters then get what is left, and
        never less than EXPORT_SHARE of the bound."""
        deadline = time.monotonic() + timeout
        if self._sink is None and self._inline_ok() and self._claim_load():
            # a short-lived actor exits before its loader woke up: load here rather than
            # hand over to that thread and back (each hand-over can cost a scheduler
            # slice on a busy machine)
            self._load_claimed_now()
        loaded = self._wait_loaded(timeout)
        with self._lock:
            self._closed = True
            pending = len(self._spans) + len(self._logs)
            flusher = self._flusher  # none starts once closed
        if flusher is not None:
            self._flush_kick.set()  # the flusher thread ends
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if not loaded and pending and not self._failed:
            warn_once(
                "shutdown-unloaded",
                f"the telemetry pipeline did not start within {timeout:.1f}s; "
                f"{pending} records dropped",
            )
        sink = self._sink
        if sink is not None:
            sink.shutdown(max(timeout * EXPORT_SHARE, deadline - time.monotonic()))


def _flush_quietly(sink: Sink) -> None:
    try:
        sink.flush(SYNC_TIMEOUT)
    except Exception:  # a failed export is the exporter's to report
        pass


def _on_trio_thread() -> bool:
    trio = sys.modules.get("trio")
    try:
        return trio is not None and bool(trio.lowlevel.in_trio_run())
    except Exception:
        return False


def severity(levelno: int) -> int:
    """OTel SeverityNumber of a stdlib level (DEBUG 5, INFO 9, WARNING 13, ERROR 17 ...)."""
    if levelno < logging.DEBUG:
        return 1
    return min(24, 5 + (levelno - logging.DEBUG) * 4 // 10)


class LogBridge(logging.Handler):
    """Export stdlib records (the runtime's ``devx.*`` loggers) as OTel log records with
    the current trace context; buffered like everything else until the SDK is in."""

    def __init__(self, front: TelemetryBackend) -> None:
        super().__init__()
        self.front = front

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("devx.telemetry"):
            return  # our own warnings (e.g. "collector down") must not loop back
        try:
            attrs: dict[str, Any] = {
                "logger.name": record.name,
                schema.CODE_FILE_PATH: record.pathname,
                schema.CODE_FUNCTION_NAME: record.funcName,
                schema.CODE_LINE_NUMBER: record.lineno,
            }
            if record.exc_info and record.exc_info[1] is not None:
                attrs.update(exception_attrs(record.exc_info[1]))
            span = self.front.current()
            self.front._log(
                None,
                attrs,
                span.ids if span is not None else None,
                int(record.created * 1e9),
                severity(record.levelno),
                record.getMessage(),
            )
        except Exception:
            self.handleError(record)


def parent_ids(tp: config.TraceParent | None) -> Ids | None:
    """A remote parent from a parsed ``traceparent``/``tracestate``."""
    if tp is None:
        return None
    return Ids(tp.trace_id, tp.span_id, tp.flags, tp.tracestate, True)
