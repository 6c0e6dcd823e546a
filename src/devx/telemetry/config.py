"""Telemetry settings of one actor, from ``RuntimeConfig``, the tree's settings
(:mod:`devx.core.settings`: the ``DEVX_*`` values the root resolved) and the ``OTEL_*``
variables (read by the SDK's own rules).

Stdlib only: this runs on every actor's boot path, before the OpenTelemetry SDK (which
is loaded later, off the spawn critical path) and must cost microseconds.

Resolution, in order:

* ``OTEL_SDK_DISABLED=true``: telemetry off (the ``NullBackend`` stays installed).
* The embedded OTLP/JSON-lines file (written by :mod:`devx.telemetry.file_sink`, no
  SDK): ``RuntimeConfig.telemetry`` if not ``None``, else ``DEVX_TELEMETRY_FILE`` if
  set. ``""`` (or ``"off"``) turns the file off; any other value is a path (``~``
  expanded, made absolute against the cwd). With neither
  set the file is on unless an OTLP endpoint is configured, at the default path
  :func:`default_file`: ``<tmp>/devx-telemetry-<os uid>/<root name>-<root uuid[:8]>.otlp.jsonl``
  where ``<tmp>`` is the first of ``$TMPDIR``, ``$TEMP``, ``$TMP`` naming a directory, else
  ``/tmp``. Every process of a tree computes the same path from the root's ``ActorID`` in
  its lineage and the tree's settings, so no extra field needs to travel.
* OTLP export: when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
  (or ``..._LOGS_ENDPOINT``) is set; protocol from ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL``
  (``http/protobuf`` by default, ``grpc`` when that exporter is installed).
* Logs (structlog JSON): configured when telemetry is on, or ``RuntimeConfig.loglevel`` /
  ``DEVX_LOG_LEVEL`` / ``DEVX_LOG_FILE`` is set. Level: loglevel, else the one asked for
  with ``devx.log.get_console_log``, else ``DEVX_LOG_LEVEL``, else WARNING. Output:
  ``DEVX_LOG_FILE`` (appended, ``-`` = stderr), else stderr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ..core import settings as _settings
from ..core.levels import level_number
from ..runtime import log as runtime_log

DEFAULT_LOAD_DELAY = _settings.Settings().telemetry_load_delay
DEFAULT_EXIT_TIMEOUT = _settings.Settings().telemetry_exit_timeout

_OFF = ("", "off")
SUFFIX = ".otlp.jsonl"  # every telemetry file's name ends so (retention and timeline find them)


class Settings:
    """What one actor process does about telemetry; see the module docstring.

    A plain slotted class, not a dataclass: building a dataclass costs about a
    millisecond at import, on every actor's boot path."""

    __slots__ = (
        "enabled",
        "exit_timeout",
        "file",
        "file_is_default",
        "load_delay",
        "log_file",
        "log_level",
        "otlp_protocol",
        "quiet",
        "sdk",
        "service_name",
    )

    def __init__(
        self,
        *,
        enabled: bool,
        file: str | None = None,
        file_is_default: bool = False,
        otlp_protocol: str | None = None,
        service_name: str | None = None,
        log_level: int | None = None,
        log_file: str | None = None,
        load_delay: float = DEFAULT_LOAD_DELAY,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        quiet: bool = False,
        sdk: bool | None = None,
    ) -> None:
        self.enabled = enabled
        self.file = file  # embedded OTLP/JSON-lines file, None = off
        self.file_is_default = file_is_default
        self.otlp_protocol = otlp_protocol  # "http/protobuf" | "grpc" | None
        self.service_name = service_name  # None: OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES
        self.log_level = log_level  # None: leave logging alone
        self.log_file = log_file  # None: stderr
        self.load_delay = load_delay
        self.exit_timeout = exit_timeout
        self.quiet = quiet
        self.sdk = sdk  # None: the SDK only if the process uses the OTel API (see boot)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Settings({fields})"


def sdk_disabled(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


EXPORTABLE = ("http/protobuf", "grpc")  # the OTLP protocols the Python SDK exports


def otlp_label(protocol: str | None) -> str:
    """How warnings and notices name an OTLP exporter: ``OTLP/HTTP`` or ``OTLP/gRPC``."""
    return f"OTLP/{'gRPC' if protocol == 'grpc' else 'HTTP'}"


def otlp_protocol(env: Mapping[str, str] = os.environ) -> str | None:
    """The OTLP protocol to export with, or ``None`` when no endpoint is configured."""
    if not any(env.get(f"OTEL_EXPORTER_OTLP{sig}_ENDPOINT") for sig in ("", "_TRACES", "_LOGS")):
        return None
    proto = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    return proto.strip().lower()  # anything but http/protobuf or grpc is refused on export


def tmp_dir(env: Mapping[str, str] = os.environ) -> str:
    for var in ("TMPDIR", "TEMP", "TMP"):
        path = env.get(var)
        if path and os.path.isdir(path):
            return path
    return "/tmp"


def default_file(root_name: str, root_uuid: str, env: Mapping[str, str] = os.environ) -> str:
    """The per-tree default telemetry file, identical in every process of the tree."""
    name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in root_name)[:64] or "root"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tmp_dir(env), f"devx-telemetry-{uid}", f"{name}-{root_uuid[:8]}{SUFFIX}")


DEFAULT_ROOT_NAME = "root"  # what open_root_actor names an unnamed tree's root


def program_name(main_ref: tuple[str | None, str | None] | None) -> str | None:
    """What an unnamed tree is called in a trace view: its program, from the root's
    main module (``Actor.main_ref``, which every actor of the tree carries): the
    script's stem (``child_crash.py`` -> ``child_crash``), the package of ``python -m
    pkg`` (``pkg``), the module of ``python -m pkg.mod``; ``None`` for ``python -c``."""
    if not main_ref:
        return None
    module, path = main_ref
    name = None
    if module:
        name = module.removesuffix(".__main__")
    elif path:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = os.path.basename(os.path.dirname(path)) if stem == "__main__" else stem
    if not name:
        return None
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:64]


def parse_level(level: str | int | None) -> int | None:
    """A level from ``"info"``/``"DEBUG"``/``"cancel"``/``10`` (the root refused
    unknown names already; one here maps to INFO)."""
    if level is None or level == "":
        return None
    try:
        return level_number(level)
    except ValueError:
        return logging.INFO


def _service_name_from_env(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SERVICE_NAME"):
        return True
    return any(
        part.split("=", 1)[0].strip() == "service.name"
        for part in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    )


def resolve(
    *,
    telemetry: str | None,
    loglevel: str | None,
    root_name: str,
    root_uuid: str,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings for one actor of the tree rooted at ``root_name``/``root_uuid``: the
    tree's devx settings (:mod:`devx.core.settings`, or those of ``env`` when given) and
    the ``OTEL_*``/``TMPDIR`` variables of ``env`` (default: the process's)."""
    tree = _settings.current() if env is None else _settings.resolve(env)
    env = os.environ if env is None else env
    disabled = sdk_disabled(env)
    explicit = telemetry if telemetry is not None else tree.telemetry_file
    protocol = None if disabled else otlp_protocol(env)
    path: str | None
    is_default = False
    if disabled or (explicit is not None and explicit.strip().lower() in _OFF):
        path = None
    elif explicit is not None:
        path = os.path.abspath(os.path.expanduser(explicit))
    elif protocol is None or protocol not in EXPORTABLE:
        # (a protocol the SDK cannot export is refused, with a warning: the records
        # go to the default file rather than nowhere)
        path = default_file(root_name, root_uuid, env)
        is_default = True
    else:
        path = None
    enabled = path is not None or protocol is not None

    log_file = tree.log_file or None
    # loglevel=, else the level the program asked for (devx.log.get_console_log), else
    # DEVX_LOG_LEVEL
    level = parse_level(loglevel) or runtime_log.requested_level() or parse_level(tree.log_level)
    if level is None and (enabled or log_file):
        level = logging.WARNING

    return Settings(
        enabled=enabled,
        file=path,
        file_is_default=is_default,
        otlp_protocol=protocol,
        service_name=None if _service_name_from_env(env) else root_name,
        log_level=level,
        log_file=log_file,
        load_delay=tree.telemetry_load_delay,
        exit_timeout=max(0.1, tree.telemetry_exit_timeout),
        quiet=tree.telemetry_quiet,
        sdk=tree.telemetry_sdk,
    )


# --- W3C trace context (parsed here so no propagator import is needed) -------------

_HEX = frozenset("0123456789abcdef")


class TraceParent:
    """A parsed W3C ``traceparent`` (+ raw ``tracestate``)."""

    __slots__ = ("flags", "span_id", "trace_id", "tracestate")

    def __init__(self, trace_id: int, span_id: int, flags: int, tracestate: str | None = None):
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.tracestate = tracestate


def _hex(s: str, n: int) -> int | None:
    return int(s, 16) if len(s) == n and _HEX.issuperset(s) else None


def parse_carrier(carrier: Mapping[str, str] | None) -> TraceParent | None:
    """Parse ``traceparent``/``tracestate`` (lower- or upper-case keys: a spawn carrier
    or ``os.environ``). Invalid headers are ignored, as the W3C spec asks."""
    if not carrier:
        return None
    header = carrier.get("traceparent") or carrier.get("TRACEPARENT")
    if not header:
        return None
    parts = header.strip().lower().split("-")
    if len(parts) < 4 or (parts[0] == "00" and len(parts) != 4) or parts[0] == "ff":
        return None
    version, trace_id, span_id, flags = (
        _hex(parts[0], 2),
        _hex(parts[1], 32),
        _hex(parts[2], 16),
        _hex(parts[3], 2),
    )
    if version is None or not trace_id or not span_id or flags is None:
        return None
    state = carrier.get("tracestate") or carrier.get("TRACESTATE") or None
    return TraceParent(trace_id, span_id, flags, state)


def format_traceparent(trace_id: int, span_id: int, flags: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"
