"""The failing frame's locals on a crash record (``devx.crash.locals``), secrets redacted.

A crash record says where the code raised; the values it raised with are what a reader
needs next (Sentry's most used feature). They come from the innermost frame of the
user's code in the traceback, as a JSON map of name to a bounded ``repr``.

Secrets never leave the process: a local, argument or dict key whose name matches the
redaction pattern (a setting) is ``"[redacted]"``, and its value is scrubbed from every
other repr (an URL built from a password, an object repr holding it). Credentials a
value shows by their shape, under any name (a URL's password, a ``Bearer`` token), are
replaced where they show, whatever their length. Reprs are user code: one that raises
is named, and all of them together run on a helper thread under
a time budget, so a slow or hanging ``__repr__`` costs the crash path at most that.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from itertools import islice
from types import FrameType, ModuleType
from typing import Any

REDACTED = "[redacted]"
MAX_VALUE = 200  # characters per value
MAX_NAMES = 50
MAX_ITEMS = 8  # items shown per nested container
MAX_DEPTH = 2  # containers inside containers shown, deeper ones shortened
BUDGET = 0.25  # seconds for all reprs of one crash
_MIN_SECRET = 4  # shorter secret values are not scrubbed from other reprs (noise)

# credentials known by their shape, whatever name holds them, replaced where they show
# (whatever their length) and only there: a URL's password (``scheme://user:PW@host``,
# a DSN in an env-style local) and an HTTP authorization value (``Bearer TOKEN``,
# ``Basic B64``) after an ``Authorization`` name, as a whole value, or token-ish (a
# digit, a base64 sign or a JWT's inner dot: "basic configuration" is prose)
_TOKEN = r"[A-Za-z0-9._~+/=-]{8,}"
_URL_PW = r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:(?P<pw>[^\s/@'\"]+)"
_CREDS = re.compile(
    _URL_PW + "@"
    r"|authorization['\"]?\s*[:=,]\s*['\"]?\s*(?:bearer|basic)\s+(?P<ctx>" + _TOKEN + ")"
    r"|\A\s*(?:bearer|basic)\s+(?P<whole>" + _TOKEN + r")\s*\Z"
    r"|\b(?:bearer|basic)\s+(?P<tok>(?=[A-Za-z-]*(?:[0-9_~+/=]|\.\w))" + _TOKEN + ")",
    re.IGNORECASE,
)
# a URL's password still open where the text is cut: its head is not shown either
_OPEN_PW = re.compile(_URL_PW + r"\Z", re.IGNORECASE)
_SCAN = 64 * 1024  # characters of one value the shapes are looked for in
# the environment's directories: ``pwd`` in the pattern means a password, not these
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})


def _replace(m: re.Match[str]) -> str:
    group = m.lastgroup or "pw"
    start, end = m.span(group)
    return m[0][: start - m.start()] + REDACTED + m[0][end - m.start() :]


def redact_shapes(text: str) -> str:
    """``text`` with the credentials it shows by their shape replaced in place, on the
    whole text before any cut (a long password's ``@`` may lie past what is shown);
    a text longer than ``_SCAN`` is cut there, an open URL password at the cut hidden."""
    head = text[:_SCAN]
    low = head.lower()  # a cheap look first: the pattern costs ~70 us on 500 characters
    if "://" in head or "bearer" in low or "basic" in low:
        head = _CREDS.sub(_replace, head)
    if len(text) <= _SCAN:
        return head
    return _OPEN_PW.sub(_replace, head) + "..."


# ``name=value`` / ``'name': value`` inside an object's own repr
_KV = re.compile(
    r"""(?P<k>[A-Za-z_]\w*)(?P<sep>['"]?\s*[=:]\s*)(?P<v>'[^']*'|"[^"]*"|[^,)\s}\]>]+)"""
)


def innermost_user_frame(exc: BaseException) -> FrameType | None:
    """The last frame of ``exc``'s traceback that is the user's code (not devx,
    trio or the standard machinery), ``None`` if there is none."""
    from devx.debug.frames import is_plumbing

    found = None
    tb = exc.__traceback__
    while tb is not None:
        if not is_plumbing(tb.tb_frame):
            found = tb.tb_frame
        tb = tb.tb_next
    return found


def _a_path(value: str) -> bool:
    """An existing absolute path (the cwd, a key file's place) names where a secret is,
    it is not one: hidden where its name says so, never scrubbed from every other repr
    (``out_path = '[redacted]/report.csv'`` hid what a reader needs)."""
    try:
        return os.path.isabs(value) and "\n" not in value and os.path.lexists(value)
    except (OSError, ValueError):  # a NUL byte, a name too long
        return False


def _clip(text: str, limit: int = MAX_VALUE) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Render:
    """Bounded, redacting reprs; collects the secret values it hides."""

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        self.secrets: set[str] = set()

    def secret(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and name not in _NOT_SECRET_NAMES
            and self.rx.search(name) is not None
        )

    def hide(self, value: object) -> str:
        self._collect(value, 0)
        return REDACTED

    def find(self, value: object, depth: int = 0) -> None:
        """Collect the secrets under secret keys of the plain dicts inside ``value``
        (builtin containers only: no user code runs here)."""
        if depth >= MAX_DEPTH:
            return
        if type(value) is dict:
            for k, x in islice(value.items(), MAX_ITEMS * 4):
                if self.secret(k):
                    self._collect(x, 0)
                else:
                    self.find(x, depth + 1)
        elif type(value) in (list, tuple):
            for x in islice(value, MAX_ITEMS * 4):  # type: ignore[call-overload]
                self.find(x, depth + 1)

    def _collect(self, value: object, depth: int) -> None:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value[:4096]).decode("utf-8", "replace")
        if isinstance(value, str):
            if len(value) >= _MIN_SECRET and not _a_path(value):
                self.secrets.add(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if len(text := str(value)) >= _MIN_SECRET:
                self.secrets.add(text)
        elif depth < MAX_DEPTH and type(value) is dict:
            for x in islice(value.values(), MAX_ITEMS * 4):
                self._collect(x, depth + 1)
        elif depth < MAX_DEPTH and type(value) in (list, tuple, set, frozenset):
            for x in islice(value, MAX_ITEMS * 4):  # type: ignore[call-overload]
                self._collect(x, depth + 1)

    def value(self, v: object, depth: int = 0) -> str:
        if isinstance(v, str):
            return repr(redact_shapes(v)[: MAX_VALUE + 1])
        if isinstance(v, (bytes, bytearray)):  # latin-1: one character a byte, both ways
            text = redact_shapes(bytes(v[: _SCAN + 1]).decode("latin-1"))
            return repr(text.encode("latin-1")[: MAX_VALUE + 1])
        if isinstance(v, dict):
            if depth >= MAX_DEPTH:
                return "{...}" if v else "{}"
            items = list(islice(v.items(), MAX_ITEMS))
            parts = [
                f"{self.value(k, MAX_DEPTH)}: "
                + (self.hide(x) if self.secret(k) else self.value(x, depth + 1))
                for k, x in items
            ]
            more = len(v) - MAX_ITEMS
            return "{" + ", ".join(parts + ([f"...{more} more"] if more > 0 else [])) + "}"
        if type(v) in (list, tuple, set, frozenset):
            seq: Any = v
            brackets: dict[type, str] = {list: "[]", tuple: "()", set: "{}", frozenset: "{}"}
            open_, close = brackets[type(v)][0], brackets[type(v)][1]
            if depth >= MAX_DEPTH:
                return f"{open_}...{close}" if seq else repr(v)
            parts = [self.value(x, depth + 1) for x in islice(seq, MAX_ITEMS)]
            more = len(seq) - MAX_ITEMS
            if more > 0:
                parts.append(f"...{more} more")
            tail = "," if type(v) is tuple and len(seq) == 1 else ""
            return open_ + ", ".join(parts) + tail + close
        try:
            text = repr(v)
        except BaseException as exc:  # user code: never the crash path's
            return f"<repr failed: {type(exc).__name__}>"
        if not isinstance(text, str):
            return f"<repr of {type(v).__name__} is not a str>"
        text = redact_shapes(text)[: MAX_VALUE * 4]
        return _KV.sub(self._kv, text)

    def _kv(self, m: re.Match[str]) -> str:
        return f"{m['k']}{m['sep']}{REDACTED}" if self.secret(m["k"]) else m[0]

    def scrub(self, text: str) -> str:
        for s in sorted(list(self.secrets), key=len, reverse=True):
            if s in text:
                text = text.replace(s, REDACTED)
        return text


_SCALARS = (str, int, float, bool, type(None), bytes, complex)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def _plain(value: object, depth: int = 0) -> bool:
    """Only builtin scalars and containers, as far as a repr here looks: rendering it
    runs no user code, so it needs no helper thread."""
    t = type(value)
    if t in _SCALARS:
        return True
    if t not in _CONTAINERS or depth > MAX_DEPTH:
        return False
    if t is dict:
        return all(
            _plain(k, depth + 1) and _plain(x, depth + 1)
            for k, x in islice(value.items(), MAX_ITEMS * 4)  # type: ignore[attr-defined]
        )
    return all(_plain(x, depth + 1) for x in islice(value, MAX_ITEMS * 4))  # type: ignore[call-overload]


def _wanted(name: str, value: object) -> bool:
    if name.startswith("__") and name.endswith("__"):
        return False
    if not name.isidentifier():  # `.0`: a generator expression's hidden iterator
        return False
    return not isinstance(value, ModuleType)


_LATE = "<not shown: time budget spent>"


def collect(
    exc: BaseException,
    *,
    pattern: str,
    budget: float = BUDGET,
    start: Callable[[Callable[[], Any], str], threading.Thread] | None = None,
) -> str | None:
    """``devx.crash.locals`` for ``exc``: JSON of the innermost user frame's locals,
    ``None`` if no frame of the traceback is the user's. Never raises; returns within
    about ``budget`` seconds whatever the values' reprs do (a value whose repr was not
    done by then is shown as not shown)."""
    try:
        frame = innermost_user_frame(exc)
        if frame is None:
            return None
        r = _Render(re.compile(pattern, re.IGNORECASE))
        picked = [(k, v) for k, v in dict(frame.f_locals).items() if _wanted(k, v)]
    except Exception:  # a strange frame or pattern: no locals, never no crash record
        return None
    names = dict(picked[:MAX_NAMES])
    out: dict[str, str] = {}
    hidden = threading.Event()  # every secret is known: the scrub list is complete
    done = threading.Event()

    def work() -> None:
        try:
            # the secrets first, so a value holding one is scrubbed however it is shown
            for name, v in names.items():
                if r.secret(name):
                    out[name] = r.hide(v)
                else:
                    r.find(v)
            hidden.set()
            for name, v in names.items():
                if name not in out:
                    out[name] = r.value(v)
        except BaseException:  # what is in ``out`` is used
            pass
        finally:
            done.set()

    if all(_plain(v) for v in names.values()):
        work()  # no user code runs: no thread, no wait
    else:
        if start is None:
            from devx.core.threads import start_thread

            start = start_thread
        try:
            start(work, "devx-crash-locals")
        except RuntimeError:  # interpreter shutting down: no thread, no user code
            return None
        done.wait(budget)
    trusted = hidden.is_set()
    snapshot = dict(out)  # a repr finishing later no longer lands in what is written
    shown: dict[str, str] = {}
    for name in names:
        if r.secret(name):
            shown[name] = REDACTED
        elif trusted and name in snapshot:
            shown[name] = _clip(r.scrub(redact_shapes(snapshot[name])))
        else:
            shown[name] = _LATE
    if len(picked) > MAX_NAMES:
        shown["..."] = f"{len(picked) - MAX_NAMES} more names"
    try:
        return json.dumps(shown, ensure_ascii=False)
    except ValueError:  # lone surrogates in a repr
        return json.dumps(shown)
