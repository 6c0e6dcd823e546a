"""The telemetry actor lifetime (the hook of :mod:`.hook` enters it in every actor).

Entered in every actor (root and children) once it is set up, exited when it finishes.
On entry, cheaply (the child's spawn-to-ready path): resolve the settings
(:mod:`devx.telemetry.config`), install :class:`~devx.telemetry.backend.TelemetryBackend`
behind :mod:`devx.core.events`, open the tree span (root) and this actor's
``devx.actor`` span under the parent's span from the spawn carrier, and make it current
for the whole lifetime so every trio task inherits it. The SDK, exporters and structlog
load on a background thread a little later. On exit: record the outcome, end the spans,
flush and shut down within ``DEVX_TELEMETRY_EXIT_TIMEOUT``, and in the root print the
telemetry file path (one line on stderr, through :mod:`devx.runtime.console`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..core import events, schema, settings
from ..core.threads import start_quiet, start_thread
from ..runtime import console
from . import config

if TYPE_CHECKING:
    from .backend import Handle, Ids, Sink, TelemetryBackend
    from .logs import LogSetup


class Session:
    """Telemetry for one actor process from boot to exit. Synchronous, so it can also
    wrap non-trio code; :func:`actor_lifetime` is the async hook around it."""

    def __init__(
        self,
        actor: Any,
        *,
        env: Mapping[str, str] | None = None,
        sink_factory: Callable[[], Sink] | None = None,
    ) -> None:
        self.actor = actor
        self.env = os.environ if env is None else env
        self._sink_factory = sink_factory
        lin = actor.lineage
        cfg = actor.config
        self.settings = config.resolve(
            telemetry=cfg.telemetry,
            loglevel=cfg.loglevel,
            root_name=lin.root_uid.name,
            root_uuid=lin.root_uid.uuid,
            env=env,
        )
        self.lineage = schema.lineage_attrs(lin)
        self.backend: TelemetryBackend | None = None
        self.tree: Handle | None = None
        self.actor_span: Handle | None = None
        self.logs: LogSetup | None = None
        self._prev: events.Backend | None = None
        self._logs_timer: threading.Timer | None = None
        self._bridge: logging.Handler | None = None
        self._env_traceparent: str | bool | None = False  # False: not ours to restore
        self._pruned: threading.Event | None = None  # set once the retention pass ended
        self._unhook: Callable[[], None] | None = None  # removes the hard exit hook
        # set by start(load_soon=True): starts the sink's load now (any thread)
        self.load_kick: Callable[[], None] | None = None
        # set by start() for a sink loaded in the boot: starts its writer thread, once
        # the actor's boot is over (reported ready)
        self.start_writer: Callable[[], None] | None = None

    @property
    def file(self) -> str | None:
        """The embedded telemetry file this tree writes, if any."""
        return self.settings.file

    def start(self, *, load_soon: bool = False) -> Session:
        """Start this actor's telemetry. ``load_soon``: the file sink's eager load waits
        for :attr:`load_kick` (or the usual delay) instead of starting at once."""
        s = self.settings
        actor = self.actor
        if s.log_level is not None:
            from .logs import LogSetup

            self.logs = LogSetup(self.lineage, s.log_level, s.log_file)
            self.logs.install_early()
            if "structlog" in sys.modules:
                # the code uses structlog (a child's modules load before its telemetry
                # starts): its lines are the JSON lines, with the ids, from the first
                # call on. Finished once the sink loaded, as otherwise, a call served
                # before that wrote structlog's default line to stdout, in no log file
                self.logs.finish()
        if not s.enabled:
            if self.logs is not None:
                self._logs_timer = threading.Timer(s.load_delay, self.logs.finish)
                self._logs_timer.daemon = True
                start_quiet(self._logs_timer)
            return self

        from .backend import LogBridge, TelemetryBackend, parent_ids, tree_member

        tree_member(not actor.is_root)

        lin = actor.lineage
        resource: dict[str, Any] = {
            **self.lineage,
            "service.instance.id": lin.uid.uuid,
            **process_resource(),
        }
        if s.service_name:
            # one service per actor, named by its place in the tree, all in the tree's
            # namespace: Jaeger's rows then say which actor a span belongs to. An
            # unnamed tree goes by its program's name, not "root" like every other
            namespace, path = s.service_name, lin.path
            if lin.root_uid.name == config.DEFAULT_ROOT_NAME:
                program = config.program_name(getattr(actor, "main_ref", None))
                if program and path.startswith(namespace):
                    namespace, path = program, program + path[len(namespace) :]
            resource["service.name"] = path
            resource["service.namespace"] = namespace
        # the file sink is cheap to build: build it at once so that a short-lived
        # actor's exit does not pay for it; the SDK waits a little, off the
        # spawn-to-ready path
        file_only = _file_sink_only(s)
        eager = file_only and s.load_delay == config.DEFAULT_LOAD_DELAY
        # a child writing the default file (a regular file in our private directory:
        # its open never waits) builds it in its boot, on its own thread, and writes
        # its start span there: a loader thread beside the boot took the GIL from it
        # for longer than the build itself (child boot 7.1 -> 5.0 ms); its writer
        # thread starts once that first line is written, for what comes later
        inline = eager and not actor.is_root and s.file_is_default and not self._sink_factory
        # an eager load decides its sink now, as when it ran at once: a root's load
        # waits for its first spawn, and an OTel API its block imports meanwhile must
        # not turn it into the SDK's (loaded during that child's boot)
        factory = self._sink_factory or _default_factory(
            s, self.lineage, resource, file_only=True if eager else None, writer=not inline
        )
        # a sink not decided yet is asked again at exit: the code may have imported the
        # OTel API meanwhile
        cheap: Callable[[], bool] = (lambda: True) if eager else (lambda: _file_sink_only(s))
        backend = self.backend = TelemetryBackend(
            factory, log_attrs=self.lineage, cheap_sink=None if self._sink_factory else cheap
        )
        self._prev = events.install(backend)

        tp = None if actor.is_root else config.parse_carrier(actor.spawn_carrier)
        parent = parent_ids(tp or config.parse_carrier(self.env))
        common = {"devx.debug_mode": bool(actor.config.debug_mode)}
        # the live skeleton (see schema.TREE_START_SPAN): spans ended now, exported
        # as soon as the sink is in, that everything a trace view shows live hangs from
        anchor_parent = _anchor_of(parent, None if actor.is_root else actor.spawn_carrier)
        if actor.is_root:
            start = backend.open(
                schema.TREE_START_SPAN, {**common, schema.TREE_ROOT: lin.path}, parent=parent
            )
            start.end()
            anchor_parent = start.ids
            self.tree = backend.open(
                schema.TREE_SPAN,
                {**common, schema.TREE_ROOT: lin.path},
                parent=start.ids,
                activate=True,
            )
            parent = self.tree.ids
        actor_start = backend.open(
            schema.ACTOR_START_SPAN,
            {**common, "devx.actor.is_root": bool(actor.is_root)},
            parent=anchor_parent,
        )
        actor_start.end()
        backend.anchor = actor_start.ids
        backend.flush_when_loaded()
        self.actor_span = backend.open(
            schema.ACTOR_SPAN,
            {**common, "devx.actor.is_root": bool(actor.is_root)},
            parent=parent,
            activate=True,
        )
        backend.home = self.actor_span.span
        # a hard exit (runtime.lifeline.exit_now: the loop blocked at a SIGTERM or
        # after the parent died) skips close(): its hook ends the spans and flushes
        from ..runtime import lifeline

        self._unhook = lifeline.before_hard_exit(self._hard_exit, last=True)
        if not actor.is_root:
            # a program this actor starts (a nested tree, any OTel-aware tool) joins the
            # trace under this actor's start (exported: a nested tree's live trace is
            # rooted in this one), not under the parent that spawned it
            ids = actor_start.ids
            self._env_traceparent = os.environ.get("TRACEPARENT")
            os.environ["TRACEPARENT"] = config.format_traceparent(
                ids.trace_id, ids.span_id, ids.flags
            )
        self._bridge = LogBridge(backend)
        logging.getLogger("devx").addHandler(self._bridge)
        if self.logs is not None:
            backend.after_load(self.logs.finish)
        uses_otel_api = "opentelemetry.trace" in sys.modules and self._sink_factory is None
        if uses_otel_api and not file_only:
            # the actor's code uses the OTel API: its spans need the SDK from its first
            # step (before, they would be non-recording and lost), so it loads now, in
            # the boot, which it lengthens by the SDK's import (~0.1 s)
            backend.load_now()
        elif inline:
            backend.load_inline()
            self.start_writer = getattr(backend.sink, "start_writer", None)
            return self
        elif eager and load_soon:
            # the caller kicks the load when it is off the way (a root: once its first
            # child is on its way), at the latest after the usual delay; the retention
            # pass follows on the same thread (a thread of its own, started here, took
            # the GIL and a scheduler slice from the root's way to its first spawn)
            prune = self._pruning()
            backend.start_loading(s.load_delay, then=prune)
            self.load_kick = backend.kick_load
            return self
        else:
            backend.start_loading(0.0 if eager else s.load_delay)
        prune = self._pruning()
        if prune is not None:
            start_thread(prune, "devx-telemetry-retention")
        return self

    def _exit_timeout(self) -> float:
        """The bound on flushing at exit. A child keeps well inside its parent's
        cancel grace, so a dead collector never gets it SIGTERMed on its way out."""
        timeout = self.settings.exit_timeout
        if self.actor.is_root:
            return timeout

        return max(0.1, min(timeout, settings.current().cancel_grace * 0.5))

    def close(self, exc: BaseException | None = None, *, outcome: str | None = None) -> None:
        """End the spans, flush (bounded) and restore the previous backend and logging.
        ``outcome`` overrides the one read off ``exc`` (a crash already recorded)."""
        s = self.settings
        if self._unhook is not None:  # from here on, this exit is the one
            self._unhook()
            self._unhook = None
        backend = self.backend
        notable = backend is not None and bool(backend.notable)
        if backend is not None and self.actor_span is None:  # start() failed half way
            backend.shutdown(0.5)
            if events.backend() is backend:
                events.install(self._prev)
            self.backend = backend = None
        if backend is not None and self.actor_span is not None:
            from .backend import is_cancellation

            if outcome is None:
                if exc is None:
                    # a SIGTERM ends an actor gracefully, yet it did not finish its work
                    why = getattr(self.actor, "cancel_reason", None)
                    outcome = "cancelled" if why == schema.CANCELLED_BY_SIGTERM else "ok"
                    if outcome == "ok" and getattr(self.actor, "quit_seen", False):
                        outcome = "quit"  # a call of it ended in the user's `q`
                elif is_cancellation(exc):
                    outcome = "cancelled"
                else:
                    from ..runtime.errors import is_user_quit

                    # the user's `q` at a REPL is no error of this actor (nor a crash
                    # event: what the tree had raised before it is on record already)
                    outcome = "quit" if is_user_quit(exc) else "error"
            crash_line = backend.crash_line
            if crash_line is not None and outcome in ("ok", "cancelled", "quit"):
                # this actor's code raised (an RPC call's error, boxed to the caller):
                # it crashed, whatever came after (a clean return, the parent's cancel)
                outcome = "crashed"
                if self.actor_span.span.error is None:  # raised under a context span
                    self.actor_span.span.set_error(crash_line)
            notable = notable or outcome != "ok"
            last: dict[str, Any] = {schema.ACTOR_OUTCOME: outcome}
            cancel_reason = getattr(self.actor, "cancel_reason", None)
            if cancel_reason:  # e.g. "cancelled by parent", "SIGTERM"
                last[schema.CANCEL_REASON] = str(cancel_reason)
            self.actor_span.set(**last)  # one change, in this order
            if outcome == "error" and exc is not None:
                self.actor_span.record_exception(exc)  # exception event + ERROR status
            if self.tree is not None:
                self.tree.set(**{schema.TREE_OUTCOME: outcome})
                if outcome == "error" and exc is not None:
                    from .backend import status_line

                    self.tree.span.set_error(status_line(exc, backend.here))
            backend.end_open_spans(keep=(self.actor_span, self.tree))
            self.actor_span.end()
            if self.tree is not None:
                self.tree.end()
            if self._env_traceparent is not False:  # put back what the parent handed us
                if self._env_traceparent is None:
                    os.environ.pop("TRACEPARENT", None)
                else:
                    os.environ["TRACEPARENT"] = str(self._env_traceparent)
                self._env_traceparent = False
            backend.shutdown(self._exit_timeout())
            if self._bridge is not None:
                logging.getLogger("devx").removeHandler(self._bridge)
                self._bridge = None
            if events.backend() is backend:
                events.install(self._prev)
            self.backend = None
        if self._logs_timer is not None:
            self._logs_timer.cancel()
        # where the warnings went: "above" on stderr, or the log file (DEVX_LOG_FILE)
        logged_to = self.logs.path if self.logs is not None else None
        seen = f"the warning in {logged_to}" if logged_to else "the warning above"
        if self.logs is not None:
            self.logs.close()
            self.logs = None
        if self.actor.is_root and s.file and not s.quiet and os.path.exists(s.file):
            from .backend import warned

            if warned("export:file"):  # e.g. a full disk: say so, not "written"
                console.write(
                    f"devx: telemetry NOT fully written to {s.file}: the export failed "
                    f"(see {seen})\n"
                )
            elif notable or not s.file_is_default or _notice_asked():
                # a clean run (no REPL, crash, error or dump) into the default file
                # is not worth a line: `devx timeline` finds the newest file anyway
                console.write(f"devx: telemetry written to {s.file}\n")
        elif (
            self.actor.is_root
            and s.file is None
            and s.otlp_protocol in config.EXPORTABLE
            and not _export_refused()  # grpc without its extra: its warning said so
            and not s.quiet
            and (notable or _notice_asked() or _collector_failed())
        ):
            console.write(_otlp_notice(s.otlp_protocol, seen) + "\n")  # a collector only
        if self._pruned is not None:
            if self.load_kick is not None and not self._pruned.is_set():
                # the pass follows the load, on its thread: wake it if the load was
                # this exit's own
                self.load_kick()
            self._pruned.wait(PRUNE_WAIT)  # it followed the load: long done, as a rule
            self._pruned = None

    def _hard_exit(self, info: Any) -> None:
        """The process ends at once (``info``: a :class:`~devx.runtime.lifeline.HardExit`),
        on a helper thread while the actor's loop is blocked: end the open spans (its
        call's, a REPL's ..., then its actor span and the tree's) with an ERROR status
        and the reason, and flush, within ``info.deadline``. What is recorded is what a
        trace view of a hung actor needs most; the lifeline ends the process at the
        deadline whatever this is doing (a dead collector, a stuck file)."""
        import time

        backend, actor_span = self.backend, self.actor_span
        if backend is None or actor_span is None:
            return
        why = str(info.why)
        status = f"hard exit: {why}"[:1024]
        marks = {schema.HARD_EXIT_REASON: why}
        backend.end_at_hard_exit(marks, status, keep=(actor_span, self.tree))
        last: dict[str, Any] = {schema.ACTOR_OUTCOME: schema.OUTCOME_HARD_EXIT, **marks}
        cancel_reason = getattr(self.actor, "cancel_reason", None)
        if cancel_reason:
            last[schema.CANCEL_REASON] = str(cancel_reason)
        actor_span.set(**last)
        actor_span.event(
            schema.HARD_EXIT,
            **{schema.HARD_EXIT_REASON: why, schema.HARD_EXIT_CODE: int(info.code)},
        )
        actor_span.span.set_error(status)
        actor_span.span.end()
        if self.tree is not None:
            self.tree.set(**{schema.TREE_OUTCOME: schema.OUTCOME_HARD_EXIT, **marks})
            self.tree.span.set_error(status)
            self.tree.span.end()
        backend.shutdown(max(0.0, info.deadline - time.monotonic()))

    def _pruning(self) -> Callable[[], None] | None:
        """The root applies the default directory's retention rule on a helper thread
        while the tree runs (not on its way out: it lists and stats every file), at
        most once a minute per directory: the pass to run there, None for others."""
        s = self.settings
        if not (self.actor.is_root and s.file and s.file_is_default):
            return None
        tree = settings.current()
        keep, days = tree.telemetry_keep, tree.telemetry_keep_days
        directory, spare = os.path.dirname(s.file), s.file
        done = self._pruned = threading.Event()

        def prune() -> None:
            from . import retention  # on that thread, after the first spawn
            from ._appendfile import ensure_private_dir

            try:
                # not in a directory that is not ours alone (another local user made it
                # first: the telemetry is off, and its stamp or files are not ours)
                ensure_private_dir(directory)
                pruned = retention.prune_now_and_then(
                    directory, keep=keep, keep_days=days, spare=spare
                )
                if pruned is not None:  # (at most once a minute) the dump logs' rule too
                    from ..debug.stack import registry

                    registry.prune_logs(days)
            except OSError:
                pass  # an unreadable directory: nothing to prune
            finally:
                done.set()

        return prune


def _anchor_of(parent: Ids | None, carrier: Mapping[str, str] | None) -> Ids | None:
    """The parent of this actor's start span: the parent actor's start span, named in
    the spawn carrier beside ``traceparent``; else ``parent`` itself."""
    if parent is None or not carrier:
        return parent
    try:
        span_id = int(carrier.get(schema.ANCHOR_CARRIER_KEY) or "", 16)
    except ValueError:
        return parent
    return parent._replace(span_id=span_id) if span_id else parent


def process_resource() -> dict[str, Any]:
    """The OTel ``process.*`` resource attributes that tell processes apart in a trace
    view (``process.pid`` is in the lineage)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    argv0 = argv0 or (sys.orig_argv[0] if sys.orig_argv else sys.executable)
    return {
        "process.command": argv0,
        "process.executable.name": os.path.basename(sys.executable or "python"),
    }


PRUNE_WAIT = 1.0  # at most this long at exit for a retention pass still running


def _collector_failed() -> bool:
    from .backend import warned

    return warned("collector")  # every collector failure is said under this one key


def _export_refused() -> bool:
    """The OTLP export never started (gRPC without the ``[otlp]`` extra, the HTTP
    exporter missing): nothing was sent, whatever the notice would say."""
    from .backend import warned

    return warned("grpc") or warned("otlp-missing")


def _shown_endpoint(url: str) -> str:
    """An endpoint fit for a terminal or a CI log: scheme, host, port and path, never
    the credentials or query a URL may carry (``https://user:token@host``)."""
    from urllib.parse import urlsplit

    bare = "://" not in url  # gRPC's "host:port" form
    try:
        parts = urlsplit(f"//{url}" if bare else url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can read: say no more than that
        return "the collector"
    if not host:
        return "the collector"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{'' if bare else parts.scheme + '://'}{host}{port}{parts.path}"


def _otlp_notice(protocol: str | None, seen: str = "the warning above") -> str:
    """Where a collector-only tree's telemetry went (or that it did not all get there:
    ``seen`` says where its warning is)."""
    label = config.otlp_label(protocol)
    where = _shown_endpoint(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        or ""
    )
    if _collector_failed():
        return f"devx: telemetry NOT fully sent ({label}) to {where}: see {seen}"
    return f"devx: telemetry sent ({label}) to {where}"


def _notice_asked() -> bool:
    """``DEVX_TELEMETRY_NOTICE=1``: say where the telemetry went after every run."""
    return settings.current().telemetry_notice


def _default_factory(
    settings: config.Settings,
    lineage: Mapping[str, Any],
    resource: Mapping[str, Any],
    *,
    file_only: bool | None = None,
    writer: bool = True,
) -> Callable[[], Sink]:
    """``file_only``: the sink decided at the start; None: when it loads. ``writer``:
    the file sink's writer thread starts with it (else once it wrote what was pending,
    see :meth:`~devx.telemetry.file_sink.FileSink.write_pending_now`)."""

    def factory() -> Sink:
        if file_only if file_only is not None else _file_sink_only(settings):
            from . import file_sink

            return file_sink.build_sink(settings, lineage, resource, writer=writer)
        from . import otel

        return otel.build_sink(settings, lineage, resource)

    return factory


def _file_sink_only(settings: config.Settings) -> bool:
    """This actor's telemetry is the file alone, written by the SDK-free file sink."""
    return bool(settings.file) and not settings.otlp_protocol and not _sdk_wanted(settings)


def _sdk_wanted(settings: config.Settings) -> bool:
    """Load the OpenTelemetry SDK for a file-only tree? Only when asked
    (``DEVX_TELEMETRY_SDK=1``) or when this process's code uses the OTel API (imported
    by the time telemetry loads): then its spans must nest under the actor's, which
    takes the SDK's tracer provider. Otherwise the SDK-free file sink writes the
    same lines for a fraction of the cost."""
    if settings.sdk is not None:
        return settings.sdk
    return "opentelemetry.trace" in sys.modules


def _safe_close(session: Session | None, exc: BaseException | None = None) -> None:
    if session is None:
        return
    try:
        session.close(exc)
    except Exception as err:  # telemetry must never take an actor down
        logging.getLogger("devx.telemetry").warning("devx telemetry: exit failed: %r", err)


# the session of each actor whose lifetime runs in this process (by id: the hooks'
# later calls find it)
_sessions: dict[int, Session] = {}


def modules_loaded(actor: Any) -> None:
    """``actor`` imported its modules after its telemetry started (a debug tree's
    child): code that uses structlog gets the JSON lines, with the ids, into the log
    file from now on. Its logs were finished before, structlog then unused, and every
    line of it was structlog's default line on stdout."""
    session = _sessions.get(id(actor))
    if session is not None and session.logs is not None:
        session.logs.structlog_arrived()


@asynccontextmanager
async def actor_lifetime(actor: Any) -> AsyncIterator[None]:
    """The lifetime hook: telemetry on for the whole life of ``actor``; see module doc."""
    session: Session | None = None
    try:
        session = Session(actor)
        _sessions[id(actor)] = session
        # a root loads its file sink once its first child is on its way, not on the way
        # to it: the load's thread would take the GIL from the root's set-up
        session.start(load_soon=bool(actor.is_root) and hasattr(actor, "spawned"))
        if session.load_kick is not None:
            actor.start_service_soon(
                _load_once_spawned, actor, session.load_kick, session.settings.load_delay
            )
        if session.start_writer is not None:
            # not in the boot: a thread's start there cost it ~0.3 ms; nor as it reports
            # ready: an actor that ends within LINGER of that (a tree's one call) never
            # starts it (its exit writes what it recorded; a thread less to start, and
            # to end in its exit); what is recorded meanwhile waits for it, at most
            # LINGER, as it would for a lingering writer (a flush or the exit writes it
            # in any case)
            ready = getattr(actor, "reported_ready", None)
            if ready is None:
                session.start_writer()
            else:
                from .file_sink import LINGER

                start = getattr(actor, "start_inert_service_soon", actor.start_service_soon)
                start(_start_writer_after, ready, LINGER, session.start_writer)
    except Exception as err:  # a broken setup means no telemetry, not a dead actor
        logging.getLogger("devx.telemetry").warning("devx telemetry: disabled: %r", err)
        _safe_close(session)
        session = None
    try:
        yield
    except BaseException as exc:
        _sessions.pop(id(actor), None)
        _safe_close(session, exc)
        raise
    else:
        _sessions.pop(id(actor), None)
        _safe_close(session)


async def _start_writer_after(ready: Any, delay: float, start: Callable[[], None]) -> None:
    """``start`` (the file writer's) ``delay`` s after ``ready`` is set. A cancel here
    does nothing (no ``finally``): an inert service."""
    import trio

    await ready.wait()
    await trio.sleep(delay)
    start()


async def _load_once_spawned(actor: Any, kick: Callable[[], None], within: float) -> None:
    """Kick the sink's load once ``actor``'s first child process is started (its boot
    is the root's wait), or after ``within`` s (then the loader went by itself)."""
    import trio

    with trio.move_on_after(within):
        await actor.spawned.wait()
        kick()
