"""Every environment setting devx reads, declared once (modelled on the OpenTelemetry
SDK's environment-variables module), and resolved once per tree.

Each setting is one field of :class:`Settings` (its type and default) plus one entry
in :data:`DECLARED` (its variable, parser, the layer that owns it, and a docstring).
The root resolves them when it opens (:func:`resolve`, a bad value refused there with
one line naming the variable and the value) and hands the result to every child in its
start message (:func:`install`), so the whole tree runs on the values the root saw:
no module reads a ``DEVX_*`` variable at import, and a value changed after the root
opened does not split the root from its children.

Code outside any tree (``devx dump``, a sync CLI's crash handler, the pytest plugin)
reads :func:`current`, which resolves the environment on first use when nothing was
installed. The README's settings table is generated from here
(``devx settings``) and a test keeps the two equal.
"""

# No ``from __future__ import annotations`` here: a child's boot decodes Settings in
# its SpawnSpec, and msgspec turns each string annotation into a ForwardRef it
# compiles and evaluates (113 of them between msgs and settings, ~6 M instructions
# of every child; a test in tests/test_lazy_imports.py keeps them real)

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Literal, TypeVar

import msgspec

from .levels import PEER_LEVELS, level_number

__all__ = ["DECLARED", "Settings", "SettingsError", "current", "install", "resolve", "var"]

T = TypeVar("T")

Layer = Literal["runtime", "debug", "telemetry", "pytest"]


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the variable and the value."""


# --- one parser per type -----------------------------------------------------------

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def flag(raw: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is refused."""
    val = raw.strip().lower()
    if val in _TRUE:
        return True
    if val in _FALSE or not val:
        return False
    raise ValueError("expected 1/true/yes/on or 0/false/no/off")


def tristate(raw: str) -> bool | None:
    """A flag that may also be left unset (empty: ``None``, devx decides)."""
    return flag(raw) if raw.strip() else None


def _number(raw: str, *, integer: bool, minimum: float, inclusive: bool, unit: str) -> float:
    text = raw.strip()
    try:
        val = float(int(text)) if integer else float(text)
    except ValueError:
        val = math.nan
    if not math.isfinite(val) or val < minimum or (val == minimum and not inclusive):
        kind = "a whole number" if integer else "a finite number"
        bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
        example = "64" if integer else "3 or 0.5"
        raise ValueError(f"expected {kind}{unit} {bound} (e.g. {example})")
    return val


def seconds(raw: str) -> float:
    """A duration in seconds, finite and > 0 (``3``, ``0.5``; no unit suffix)."""
    return _number(raw, integer=False, minimum=0.0, inclusive=False, unit=" of seconds")


def seconds_or_zero(raw: str) -> float:
    """A duration in seconds, finite and >= 0."""
    return _number(raw, integer=False, minimum=0.0, inclusive=True, unit=" of seconds")


def count(raw: str) -> int:
    """A whole number >= 0."""
    return int(_number(raw, integer=True, minimum=0, inclusive=True, unit=""))


SPIN_US_MAX = 10000  # while it polls a loop notices nothing else (a signal, other IO)


def spin_us(raw: str) -> int:
    """Microseconds, a whole number from 0 to :data:`SPIN_US_MAX`."""
    val = count(raw)
    if val > SPIN_US_MAX:
        raise ValueError(
            f"expected at most {SPIN_US_MAX} (10 ms: while it polls, the actor's loop "
            "notices nothing else, not even ctrl-c)"
        )
    return val


def positive(raw: str) -> int:
    """A whole number >= 1."""
    return int(_number(raw, integer=True, minimum=1, inclusive=True, unit=""))


def text(raw: str) -> str:
    return raw


def path(raw: str) -> str:
    """A path, ``~`` expanded and made absolute against the cwd at resolution."""
    return os.path.abspath(os.path.expanduser(raw.strip())) if raw.strip() else ""


def choice(*values: str) -> Callable[[str], str]:
    """One of ``values`` (case-insensitive); empty means the default."""

    def parse(raw: str) -> str:
        val = raw.strip().lower()
        if val in values:
            return val
        raise ValueError(f"expected one of {', '.join(values)}")

    parse.__doc__ = f"one of {', '.join(values)}"
    return parse


# --- the declarations --------------------------------------------------------------


class Setting(Generic[T]):
    """One environment variable: which :class:`Settings` field it fills, how its text
    is parsed, which layer owns it, and what it does (the README's table)."""

    __slots__ = ("doc", "env", "field", "layer", "parse")

    def __init__(
        self, field: str, env: str, parse: Callable[[str], T], layer: Layer, doc: str
    ) -> None:
        self.field, self.env, self.parse, self.layer, self.doc = field, env, parse, layer, doc

    def read(self, env: Mapping[str, str]) -> T | None:
        """The parsed value, ``None`` when unset or empty; a bad value raises
        :class:`SettingsError` naming the variable and the value."""
        raw = env.get(self.env)
        if raw is None or (not raw.strip() and self.parse is not text):
            return None
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{self.env}={raw!r}: {exc}") from None


# local names whose values a crash record never carries (searched, case-insensitive)
CRASH_LOCALS_REDACT: Final = "pass|pwd|secret|token|key|auth|cookie|credential|session"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The resolved settings of one tree (defaults here; variables in :data:`DECLARED`)."""

    # runtime
    boot_timeout: float = 30.0
    cancel_grace: float = 3.0
    preauth_timeout: float = 2.0
    stream_window: int = 64
    reply_spin_us: int = 0
    context_cancel_timeout: float = 5.0
    send_stall_timeout: float = 30.0
    spawn_method: str = ""  # "": the platform's default
    log_format: str = ""  # "": readable on a terminal, JSON elsewhere
    tree_secret: str = ""  # "": a fresh random secret per tree (no other tree can join)
    tree_secret_file: str = ""
    # debug
    enable_stackscope: bool = False
    stack_dump_terminal: bool = True
    stack_dump_coalesce: float = 0.3
    runtime_dir: str = ""  # "": /tmp/devx-<uid>
    hang_tag: str = ""
    pdb: bool = False
    attach: bool = False
    attach_timeout: float = 0.0
    repl_settle: float = 0.5
    # telemetry
    telemetry_file: str | None = None  # None: unset (the default file); "": off
    telemetry_quiet: bool = False
    telemetry_notice: bool = False
    telemetry_load_delay: float = 0.05
    telemetry_exit_timeout: float = 3.0
    telemetry_sdk: bool | None = None
    telemetry_keep: int = 50
    telemetry_keep_days: float = 7.0
    log_level: str = ""
    log_file: str = ""
    crash_locals: bool = True
    crash_locals_redact: str = CRASH_LOCALS_REDACT
    # pytest plugin
    hang_dump_wait: float = 10.0
    hang_teardown_grace: float = 10.0

    def changed(self) -> dict[str, Any]:
        """The fields that differ from their defaults (for a start message or a log)."""
        default = _DEFAULT
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) != getattr(default, f)
        }


def _telemetry_file(raw: str) -> str:
    """A path, or ``off`` / empty for no file."""
    return "" if raw.strip().lower() in ("", "off") else path(raw)


def _log_file(raw: str) -> str:
    """A path; ``-`` or ``stderr``: standard error."""
    return "" if raw.strip().lower() in ("", "-", "stderr") else path(raw)


def _regex(raw: str) -> str:
    """A Python regular expression (searched, case-insensitive)."""
    import re

    try:
        re.compile(raw)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None
    return raw


def _log_level(raw: str) -> str:
    """A logging level name (``debug`` ... ``critical``, or the peer's ``transport``,
    ``runtime``, ``devx``, ``cancel``, ``pdb``) or number."""
    val = raw.strip().upper()
    try:
        level_number(val)
    except ValueError:
        raise ValueError(
            "expected debug, info, warning, error, critical, the peer's "
            f"{', '.join(name.lower() for name in PEER_LEVELS)}, or a number"
        ) from None
    return val


DECLARED: Final[tuple[Setting[Any], ...]] = (
    # runtime
    Setting(
        "boot_timeout",
        "DEVX_BOOT_TIMEOUT",
        seconds,
        "runtime",
        "Seconds a booting actor may go without progress (no CPU time used, no step "
        "towards ready) before its start fails; not counted while a REPL of the tree is live.",
    ),
    Setting(
        "cancel_grace",
        "DEVX_CANCEL_GRACE",
        seconds,
        "runtime",
        "Seconds between a graceful cancel and SIGTERM of a child that does not exit "
        "(one whose loop is blocked then ends itself within about a second; SIGKILL "
        "follows 2.5 s after the SIGTERM).",
    ),
    Setting(
        "preauth_timeout",
        "DEVX_PREAUTH_TIMEOUT",
        seconds,
        "runtime",
        "Seconds a connecting peer has to present the tree's secret.",
    ),
    Setting(
        "stream_window",
        "DEVX_STREAM_WINDOW",
        positive,
        "runtime",
        "Messages a stream's receiver holds unread before its sender waits.",
    ),
    Setting(
        "reply_spin_us",
        "DEVX_REPLY_SPIN_US",
        spin_us,
        "runtime",
        "Microseconds (at most 10000) a `portal.run` (or `open_context`) caller polls for its "
        "reply before its loop sleeps, while a CPU is free (`0`: never; opt-in).",
    ),
    Setting(
        "context_cancel_timeout",
        "DEVX_CONTEXT_CANCEL_TIMEOUT",
        seconds,
        "runtime",
        "Seconds a context's caller waits for the callee to acknowledge a cancel.",
    ),
    Setting(
        "send_stall_timeout",
        "DEVX_SEND_STALL_TIMEOUT",
        seconds,
        "runtime",
        "Seconds a peer may read nothing of a frame being sent to it before its channel "
        "is given up (never while a REPL of the tree is live).",
    ),
    Setting(
        "spawn_method",
        "DEVX_SPAWN_METHOD",
        choice("subprocess", "forkserver"),
        "runtime",
        "How actors are started when `open_root_actor(spawn_method=)` is not given; "
        "unset: `forkserver` on Linux, `subprocess` elsewhere.",
    ),
    Setting(
        "log_format",
        "DEVX_LOG_FORMAT",
        choice("json", "console"),
        "runtime",
        "devx's own log lines: `console` (one readable line) or `json`; "
        "unset: readable on a terminal, JSON elsewhere.",
    ),
    Setting(
        "tree_secret",
        "DEVX_TREE_SECRET",
        text,
        "runtime",
        "The secret shared by trees that find and call each other through a registry, "
        "at least 16 characters (unset: each tree makes its own, so no other tree can "
        "connect).",
    ),
    Setting(
        "tree_secret_file",
        "DEVX_TREE_SECRET_FILE",
        path,
        "runtime",
        "A file (mode 0600, yours) holding that secret; used when `DEVX_TREE_SECRET` is unset.",
    ),
    # debug
    Setting(
        "enable_stackscope",
        "DEVX_ENABLE_STACKSCOPE",
        flag,
        "debug",
        "Install the SIGUSR1 stack-dump handler in every actor (no code change).",
    ),
    Setting(
        "stack_dump_terminal",
        "DEVX_STACK_DUMP_TERMINAL",
        flag,
        "debug",
        "Copy stack dumps to stderr too (`0`: only to their files and telemetry).",
    ),
    Setting(
        "stack_dump_coalesce",
        "DEVX_STACK_DUMP_COALESCE",
        seconds_or_zero,
        "debug",
        "Seconds after a stack-dump signal a process took in which further ones give no "
        "new dump (a relay plus a direct `pkill -USR1` dump a child once).",
    ),
    Setting(
        "runtime_dir",
        "DEVX_RUNTIME_DIR",
        path,
        "debug",
        "The private directory (0700, owner checked) where trees register for "
        "`devx ps`/`devx dump`; default `/tmp/devx-<uid>`.",
    ),
    Setting(
        "hang_tag",
        "DEVX_HANG_TAG",
        text,
        "debug",
        "A tag the pytest plugin gives every actor started by one test, to find its trees.",
    ),
    Setting(
        "pdb",
        "DEVX_PDB",
        flag,
        "debug",
        "`maybe_open_crash_handler(pdb=None/False)` opens the crash REPL anyway.",
    ),
    Setting(
        "attach",
        "DEVX_ATTACH",
        flag,
        "debug",
        "A tree without a terminal keeps each REPL waiting for `devx attach` instead of "
        "skipping it (also `open_root_actor(attach=True)`).",
    ),
    Setting(
        "attach_timeout",
        "DEVX_ATTACH_TIMEOUT",
        seconds_or_zero,
        "debug",
        "Seconds the tree's REPLs wait for `devx attach` in all, nobody attached, before "
        "they are skipped; a client attaching starts it afresh (`0`: no deadline).",
    ),
    Setting(
        "repl_settle",
        "DEVX_REPL_SETTLE",
        seconds_or_zero,
        "debug",
        "Seconds the tree's terminal must have been quiet after a REPL ends before "
        "teardown goes on (the next pause of a loop keeps its user).",
    ),
    # telemetry
    Setting(
        "telemetry_file",
        "DEVX_TELEMETRY_FILE",
        _telemetry_file,
        "telemetry",
        "The OTLP/JSON-lines file (`off`: none) when `open_root_actor(telemetry=)` is "
        "not given; default `<tmp>/devx-telemetry-<uid>/<root>-<uuid8>.otlp.jsonl`.",
    ),
    Setting(
        "telemetry_quiet",
        "DEVX_TELEMETRY_QUIET",
        flag,
        "telemetry",
        "Never print where the telemetry went at tree exit.",
    ),
    Setting(
        "telemetry_notice",
        "DEVX_TELEMETRY_NOTICE",
        flag,
        "telemetry",
        "Print where the telemetry went after every run, not only after a failure.",
    ),
    Setting(
        "telemetry_load_delay",
        "DEVX_TELEMETRY_LOAD_DELAY",
        seconds_or_zero,
        "telemetry",
        "Seconds after boot before the OTel SDK loads in the background.",
    ),
    Setting(
        "telemetry_exit_timeout",
        "DEVX_TELEMETRY_EXIT_TIMEOUT",
        seconds,
        "telemetry",
        "Bound on each actor's flush and exporter shutdown at exit.",
    ),
    Setting(
        "telemetry_sdk",
        "DEVX_TELEMETRY_SDK",
        tristate,
        "telemetry",
        "`1`: load the OTel SDK for the file too; `0`: never for it; "
        "unset: only if the process uses the OTel API.",
    ),
    Setting(
        "telemetry_keep",
        "DEVX_TELEMETRY_KEEP",
        count,
        "telemetry",
        "Newest telemetry files kept by retention (`0`: keep all).",
    ),
    Setting(
        "telemetry_keep_days",
        "DEVX_TELEMETRY_KEEP_DAYS",
        seconds_or_zero,
        "telemetry",
        "Days telemetry files are kept by retention (`0`: no age limit).",
    ),
    Setting(
        "log_level",
        "DEVX_LOG_LEVEL",
        _log_level,
        "telemetry",
        "Level of devx's structured logs when `loglevel=` is not given.",
    ),
    Setting(
        "log_file",
        "DEVX_LOG_FILE",
        _log_file,
        "telemetry",
        "Append devx's JSON logs to this file (`-`: stderr).",
    ),
    Setting(
        "crash_locals",
        "DEVX_CRASH_LOCALS",
        flag,
        "telemetry",
        "Crash records carry the failing frame's locals (`devx.crash.locals`, bounded "
        "reprs, secrets redacted); `0`: never.",
    ),
    Setting(
        "crash_locals_redact",
        "DEVX_CRASH_LOCALS_REDACT",
        _regex,
        "telemetry",
        "Regular expression (searched, case-insensitive) for the local names and dict "
        "keys whose values crash records replace by `[redacted]`.",
    ),
    # pytest plugin
    Setting(
        "hang_dump_wait",
        "DEVX_HANG_DUMP_WAIT",
        seconds,
        "pytest",
        "Seconds the hang plugin waits for every actor's dump of a hung test.",
    ),
    Setting(
        "hang_teardown_grace",
        "DEVX_HANG_TEARDOWN_GRACE",
        seconds,
        "pytest",
        "Seconds a hung test's trees get to end before they are killed.",
    ),
)

# variables of the OpenTelemetry specification that devx itself interprets (the SDK
# reads the rest of OTEL_* on its own)
OTEL_INTERPRETED: Final[dict[str, str]] = {
    "OTEL_SDK_DISABLED": "`true`: no telemetry at all.",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "Export over OTLP (also `_TRACES_`/`_LOGS_ENDPOINT`); "
    "the default file is then off.",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "`http/protobuf` (default) or `grpc` (the `[otlp]` extra); "
    "also `_TRACES_PROTOCOL`.",
    "OTEL_SERVICE_NAME": "The service name (default: the actor's tree path; an unnamed "
    "tree's under its program's name).",
    "OTEL_RESOURCE_ATTRIBUTES": "Extra resource attributes; `service.name` there wins too.",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "Attributes kept per span in the file (128).",
    "OTEL_SPAN_EVENT_COUNT_LIMIT": "Events kept per span in the file (128).",
}

_DEFAULT: Final = Settings()


# --- resolution --------------------------------------------------------------------


def resolve(env: Mapping[str, str] | None = None) -> Settings:
    """The settings the environment asks for; every bad value is reported in one
    :class:`SettingsError` (one line each, naming the variable and the value)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    errors: list[str] = []
    for setting in DECLARED:
        try:
            val = setting.read(env)
        except SettingsError as exc:
            errors.append(str(exc))
            continue
        if val is not None:
            values[setting.field] = val
    if errors:
        raise SettingsError("; ".join(errors))
    return Settings(**values)


_BY_FIELD: Final = {s.field: s for s in DECLARED}


def var(field: str) -> str:
    """The environment variable of the :class:`Settings` field ``field``."""
    return _BY_FIELD[field].env


_installed: Settings | None = None


def install(settings: Settings | None) -> None:
    """Make ``settings`` this process's (the root at open, a child from its start
    message); ``None`` goes back to reading the environment."""
    global _installed
    _installed = settings


def current() -> Settings:
    """This process's settings: the tree's once installed, else the environment's."""
    return _installed if _installed is not None else resolve()


# --- the README's table ------------------------------------------------------------


def _default_text(setting: Setting[Any]) -> str:
    val = getattr(_DEFAULT, setting.field)
    if val is None or val == "":
        return "unset"
    if isinstance(val, bool):
        return "`1`" if val else "`0`"
    text = f"{val:g}" if isinstance(val, float) else str(val)
    return f"`{text}`".replace("|", "\\|")  # a table cell: GFM splits on | even in code


def markdown_table() -> str:
    """The settings table the README carries (between its ``settings-table`` markers)."""
    rows = ["| variable | layer | default | what it does |", "|---|---|---|---|"]
    rows += [f"| `{s.env}` | {s.layer} | {_default_text(s)} | {s.doc} |" for s in DECLARED]
    rows += [f"| `{name}` | telemetry | unset | {doc} |" for name, doc in OTEL_INTERPRETED.items()]
    return "\n".join(rows) + "\n"
