"""structlog JSON logs carrying ``trace_id``/``span_id`` and the actor's lineage.

Two stages so that booting an actor does not pay for importing structlog:

* :meth:`LogSetup.install_early` (stdlib only, on the boot path) takes over the
  ``devx`` logger (replacing the runtime's plain stderr handler, see
  ``devx.runtime.log``) with a handler that stamps each record with the current trace
  context and buffers it.
* :meth:`LogSetup.finish` (on the telemetry loader thread) puts the final handler on the
  ``devx`` logger and replays the buffered records through it. When the process's code
  uses structlog (it is imported by then), it configures structlog to render JSON lines
  (unless the application configured structlog itself) and the handler is a
  ``ProcessorFormatter``, so the runtime's stdlib records come out as the same JSON;
  otherwise stdlib formatters write the same lines without importing structlog.

Output: ``DEVX_LOG_FILE`` (appended by every process of the tree, one ``os.write`` per
line under ``flock``; always JSON), else stderr through the console gate
(:mod:`devx.runtime.console`: held back while a REPL is live), where a terminal gets one
readable line per record (``[devx root/worker pid 42] WARNING devx.x: message k=v``)
and anything else JSON; ``DEVX_LOG_FORMAT=json`` (or ``console``) forces the form.
:meth:`LogSetup.close` restores the previous state.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..runtime import console
from ..runtime.log import JsonFormatter
from ._appendfile import AppendFile

LOGGER = "devx"
_RUNTIME_FLAG = "_devx_runtime_handler"  # set by devx.runtime.log on its own handler
_OURS = "_devx_telemetry_handler"
EARLY_BUFFER = 1000


def current_ids() -> tuple[str | None, str | None]:
    """Hex trace/span id of the current span (user OTel span, devx span or the actor
    span), without importing anything: telemetry off means no ids."""
    backend = sys.modules.get("devx.telemetry.backend")
    ids = backend.current_ids() if backend is not None else None
    if ids is None:
        return None, None
    return f"{ids.trace_id:032x}", f"{ids.span_id:016x}"


class _LineFile:
    """A text stream appending whole lines to a shared file."""

    def __init__(self, path: str) -> None:
        self.out = AppendFile(path)
        self._buf = ""
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            self._buf += s
            head, sep, tail = self._buf.rpartition("\n")
            if sep:
                self._buf = tail
                self.out.write((head + "\n").encode("utf-8", "backslashreplace"))
        return len(s)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.out.close()


# stdlib-only JSON lines, the same as structlog's: used unless the application uses
# structlog, or when structlog is unavailable (one shape, shared with the runtime's)
_PlainJson = JsonFormatter


_HIDDEN = frozenset(
    ("event", "level", "logger", "timestamp", "trace_id", "span_id", "exception", "stack")
)


class ConsoleLine:
    """Render an event dict as one readable line, the runtime's plain form:
    ``[devx <path> pid <pid>] LEVEL logger: message k=v ...``; lineage and trace ids
    stay out of it (they are in the telemetry), an exception follows on its lines.
    A structlog processor, also used by :class:`_PlainConsole`."""

    def __init__(self, lineage: Mapping[str, Any]) -> None:
        self.hidden = _HIDDEN | set(lineage)
        path = lineage.get("devx.actor.path")
        pid = lineage.get("process.pid")
        self.head = f"[devx {path} pid {pid}]" if path else None

    def __call__(self, _: Any, __: str, event_dict: MutableMapping[str, Any]) -> str:
        head = self.head or f"[devx pid {os.getpid()}]"
        level = str(event_dict.get("level", "")).upper()
        logger = event_dict.get("logger")
        text = f"{head} {level} {f'{logger}: ' if logger else ''}{event_dict.get('event', '')}"
        extra = [
            f"{k}={v!r}"
            for k, v in event_dict.items()
            if k not in self.hidden and not str(k).startswith("_")
        ]
        if extra:
            text += " " + " ".join(extra)
        for key in ("stack", "exception"):
            if event_dict.get(key):
                text += "\n" + str(event_dict[key]).rstrip("\n")
        return text


class _PlainConsole(logging.Formatter):
    """Stdlib-only readable lines: the fallback when structlog is unavailable."""

    def __init__(self, lineage: Mapping[str, Any]) -> None:
        super().__init__()
        self.line = ConsoleLine(lineage)

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return self.line(None, "", doc)


class _EarlyHandler(logging.Handler):
    """Buffers records (stamped with their trace context) until the JSON handler is up,
    then forwards to it."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: deque[logging.LogRecord] = deque(maxlen=EARLY_BUFFER)
        self.forward: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        stamp(record)  # (forwarded too: the stdlib's JSON lines read the stamp only)
        fwd = self.forward
        if fwd is not None:
            fwd.handle(record)
            return
        self.buffer.append(record)

    def drain(self, into: logging.Handler) -> None:
        self.acquire()
        try:
            while self.buffer:
                record = self.buffer.popleft()
                if record.levelno >= into.level:
                    into.handle(record)
            self.forward = into
        finally:
            self.release()


def _foreign(handler: logging.Handler) -> bool:
    """A handler the application put on the devx logger (not the runtime's default, not
    ours, not pytest's capture handlers, which it adds to non-propagating loggers)."""
    if getattr(handler, _RUNTIME_FLAG, False) or getattr(handler, _OURS, False):
        return False
    return not type(handler).__module__.startswith("_pytest")


def stamp(record: logging.LogRecord) -> None:
    if getattr(record, "devx_trace_id", None) is None:
        record.devx_trace_id, record.devx_span_id = current_ids()


# --- structlog processors ---------------------------------------------------------


def add_trace_context(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
    """``trace_id``/``span_id``: stamped on a buffered stdlib record, else current."""
    record = event_dict.get("_record")
    tid = getattr(record, "devx_trace_id", None) if record is not None else None
    sid = getattr(record, "devx_span_id", None) if record is not None else None
    if tid is None:
        tid, sid = current_ids()
    if tid:
        event_dict.setdefault("trace_id", tid)
        event_dict.setdefault("span_id", sid)
    return event_dict


class AddLineage:
    def __init__(self, lineage: Mapping[str, Any]) -> None:
        self.lineage = dict(lineage)

    def __call__(self, _: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
        for k, v in self.lineage.items():
            event_dict.setdefault(k, v)
        return event_dict


class LogSetup:
    """JSON logging for one actor process; see the module docstring."""

    def __init__(self, lineage: Mapping[str, Any], level: int, path: str | None = None) -> None:
        self.lineage = dict(lineage)
        self.level = level
        self.path = path
        self._logger = logging.getLogger(LOGGER)
        self._saved: tuple[list[logging.Handler], int, bool] | None = None
        self._early: _EarlyHandler | None = None
        self._final: logging.Handler | None = None
        self._stream: Any = None
        self._configured_structlog = False
        self._lock = threading.Lock()
        self.app_owned = False
        self.use_structlog = False  # True: configure structlog even if nothing imported it

    def install_early(self) -> None:
        lg = self._logger
        self._saved = (list(lg.handlers), lg.level, lg.propagate)
        if any(_foreign(h) for h in lg.handlers):
            self.app_owned = True  # the application configured the devx logger: leave it
            return
        for h in list(lg.handlers):
            if getattr(h, _RUNTIME_FLAG, False):
                lg.removeHandler(h)
        self._early = _EarlyHandler()
        setattr(self._early, _OURS, True)
        lg.addHandler(self._early)
        lg.setLevel(self.level)
        lg.propagate = False

    def _make_stream(self) -> Any:
        if self.path:
            out = _LineFile(self.path)
            try:
                out.out.open_regular()  # a file that cannot be written is said now
            except OSError as exc:
                out.close()
                self._unwritable(exc)
            else:
                return out
        return console.stream("stderr")

    def _unwritable(self, exc: OSError) -> None:
        """``DEVX_LOG_FILE`` cannot be written (its directory is a file, not ours...):
        the logs go to stderr instead, said once per tree (by the root), where every
        record was a '--- Logging error ---' traceback or, at the default level,
        nothing at all."""
        path, self.path = self.path, None
        if "devx.actor.parent_uid" not in self.lineage:
            console.write(
                f"devx: DEVX_LOG_FILE={path}: cannot write it ({exc.strerror or exc}): "
                "devx's logs go to stderr\n"
            )

    def _json(self) -> bool:
        """JSON for the log file and a non-terminal stderr, else readable lines."""
        return bool(self.path) or console.log_format() == "json"

    def _plain_formatter(self) -> logging.Formatter:
        return _PlainJson(self.lineage) if self._json() else _PlainConsole(self.lineage)

    def finish(self) -> None:
        """Import structlog and switch to the JSON handler (idempotent)."""
        with self._lock:
            self._finish()

    def _finish(self) -> None:
        if self._final is not None or self._saved is None:
            return
        self._stream = self._make_stream()
        try:
            if not self._structlog_wanted():
                raise ImportError("structlog is not in use")
            handler = self._structlog_handler(self._stream)
        except ImportError:
            handler = logging.StreamHandler(self._stream)
            handler.setFormatter(self._plain_formatter())
        setattr(handler, _OURS, True)
        self._final = handler
        if self.app_owned or self._early is None:
            return
        # the early handler stays on the logger and forwards from now on: swapping
        # handlers would race with records logged meanwhile by other threads
        self._early.drain(handler)

    def structlog_arrived(self) -> None:
        """The code imported structlog after :meth:`finish` (a debug tree's child
        loads its modules after its telemetry started): configure it now, as
        :meth:`finish` would have, unless the application did; devx's own records go
        through the same handler from now on. Before that, nothing to do: the finish
        to come sees it."""
        with self._lock:
            old = self._final
            if old is None or self._saved is None or self._configured_structlog:
                return
            if "structlog" not in sys.modules:
                return
            try:
                handler = self._structlog_handler(self._stream)
            except ImportError:
                return
            setattr(handler, _OURS, True)
            self._final = handler
            early = self._early
            if self.app_owned or early is None:
                return
            early.acquire()
            try:
                if early.forward is old:
                    early.forward = handler
            finally:
                early.release()

    def _structlog_wanted(self) -> bool:
        """structlog is configured only for a process whose code uses it (imported by
        the time logging is finished): importing it costs an actor ~100 ms of CPU, and
        the stdlib formatters write the same lines for the runtime's own records."""
        return self.use_structlog or "structlog" in sys.modules

    def _structlog_handler(self, stream: Any) -> logging.Handler:
        import structlog

        timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
        lineage = AddLineage(self.lineage)
        renderer: Any = (
            structlog.processors.JSONRenderer() if self._json() else ConsoleLine(self.lineage)
        )
        if not structlog.is_configured():
            structlog.configure(
                processors=[
                    structlog.contextvars.merge_contextvars,
                    structlog.processors.add_log_level,
                    timestamper,
                    add_trace_context,
                    lineage,
                    structlog.processors.StackInfoRenderer(),
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                # the user's own lines: every level, as structlog's default does
                # (devx's level is for devx's logger; at it, a child's log.info
                # vanished once its telemetry was up)
                wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
                logger_factory=structlog.WriteLoggerFactory(file=stream),
                cache_logger_on_first_use=False,
            )
            self._configured_structlog = True
        handler = logging.StreamHandler(stream)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
                foreign_pre_chain=[
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    timestamper,
                    add_trace_context,
                    lineage,
                    structlog.processors.format_exc_info,
                ],
            )
        )
        return handler

    def close(self) -> None:
        """Flush anything still buffered and restore the ``devx`` logger."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._saved is None:
            return
        lg = self._logger
        early = self._early
        if early is not None and early.forward is None and early.buffer:
            fallback = logging.StreamHandler(self._make_stream())
            fallback.setFormatter(self._plain_formatter())
            early.drain(fallback)
        for h in list(lg.handlers):
            if getattr(h, _OURS, False):
                lg.removeHandler(h)
        if not self.app_owned:
            handlers, level, propagate = self._saved
            for h in handlers:
                if h not in lg.handlers:
                    lg.addHandler(h)
            lg.setLevel(level)
            lg.propagate = propagate
        if self._configured_structlog:
            import structlog

            structlog.reset_defaults()
        if isinstance(self._stream, _LineFile):
            self._stream.close()
        self._saved = None


def configure(
    lineage: Mapping[str, Any] | None = None, level: int = logging.INFO, path: str | None = None
) -> LogSetup:
    """Set up JSON logs synchronously (tools and scripts outside an actor)."""
    setup = LogSetup(lineage or {}, level, path)
    setup.use_structlog = True
    setup.install_early()
    setup.finish()
    return setup
