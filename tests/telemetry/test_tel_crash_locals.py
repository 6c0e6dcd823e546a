"""Crash records carry the failing frame's locals (``devx.crash.locals``), secrets
redacted: a real tree whose child crashes holding secrets in a local, a nested dict
and an argument; no byte of any secret in the telemetry file, an OTLP export, the JSON
logs or the tree's output."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from tel_support import clean_env
from test_tel_otlp import (
    Receiver,
    receiver,  # noqa: F401  (the fixture)
)

from conftest import scaled
from devx.core import schema
from devx.telemetry import readback

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent


def _secrets() -> dict[str, str]:
    # fresh per run: a byte found anywhere can only have come from this run's locals
    return {
        "TEL_SECRET_LOCAL": "pw-" + secrets.token_hex(8),
        "TEL_SECRET_NESTED": "nest-" + secrets.token_hex(8),
        "TEL_SECRET_ARG": "AKIA" + secrets.token_hex(8).upper(),
    }


def run(fn: str, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "tree.otlp.jsonl"
    proc = subprocess.run(
        [sys.executable, str(HERE / "tel_secrets.py"), fn],
        cwd=HERE,
        env=clean_env(DEVX_TELEMETRY_FILE=str(path), **env),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert proc.returncode == 0, proc.stderr
    return proc, path


def crash_records(path: Path) -> list[dict]:
    return [r for r in readback.load_logs(path) if r.get("event_name") == schema.CRASH]


def the_locals(path: Path) -> dict[str, str]:
    (crash,) = [
        r for r in crash_records(path) if r["attributes"].get("devx.actor.path") == "sroot/worker"
    ]
    return json.loads(crash["attributes"][schema.CRASH_LOCALS])


def no_secret_in(data: bytes, secret_values: dict[str, str], where: str) -> None:
    for var, value in secret_values.items():
        assert value.encode() not in data, f"{var}'s value is in {where}"


def test_secrets_redacted_everywhere(tmp_path: Path) -> None:
    values = _secrets()
    log_file = tmp_path / "devx.log.jsonl"
    proc, path = run(
        "connect",
        tmp_path,
        DEVX_LOG_FILE=str(log_file),
        DEVX_LOG_FORMAT="json",
        DEVX_LOG_LEVEL="debug",
        **values,
    )
    assert "root: builtins.ConnectionError from sroot/worker" in proc.stdout

    found = the_locals(path)
    # the innermost user frame (_connect), in its order: arguments first
    assert list(found) == [
        "user",
        "api_key",
        "password",
        "settings",
        "url",
        "conf",
        "retries",
        "bad",
    ]
    assert found["user"] == "'alice'"
    assert found["api_key"] == "[redacted]"  # an argument
    assert found["password"] == "[redacted]"  # a local
    assert found["settings"] == "{'db': {'host': 'db.local', 'Password': [redacted]}}"
    assert found["url"] == "'postgres://alice:[redacted]@db.local/app'"
    assert found["conf"] == "Conf(user='alice', password=[redacted])"
    assert found["retries"] == "[1, 2, 3]"
    assert found["bad"] == "<repr failed: RuntimeError>"
    # on the span's exception event too (what a trace view shows)
    events = [
        e
        for s in readback.load_spans(path)
        for e in s.get("events", ())
        if e["name"] == "exception" and schema.CRASH_LOCALS in e["attributes"]
    ]
    assert events and all(json.loads(e["attributes"][schema.CRASH_LOCALS]) == found for e in events)

    no_secret_in(path.read_bytes(), values, "the telemetry file")
    assert log_file.stat().st_size > 0
    no_secret_in(log_file.read_bytes(), values, "the JSON logs")
    no_secret_in((proc.stdout + proc.stderr).encode(), values, "the tree's output")


def test_secrets_never_reach_an_otlp_export(tmp_path: Path, receiver: Receiver) -> None:  # noqa: F811
    values = _secrets()
    proc, _ = run(
        "connect",
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        # an actor's export at exit is bounded (by half the cancel grace in a child):
        # this test is about what is exported, so a loaded box must not cut it short
        # (CI once got no crash record: the child's export ran out of its 1.5 s)
        DEVX_CANCEL_GRACE=str(scaled(10)),
        DEVX_TELEMETRY_EXIT_TIMEOUT=str(scaled(5)),
        **values,
    )
    bodies = [r.SerializeToString() for r in [*receiver.traces, *receiver.logs]]
    exported = [
        attr.value.string_value
        for req in receiver.logs
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for rec in sl.log_records
        for attr in rec.attributes
        if attr.key == schema.CRASH_LOCALS
    ]
    assert exported, f"no crash record with locals was exported; the tree said:\n{proc.stderr}"
    assert any(json.loads(x).get("password") == "[redacted]" for x in exported)
    no_secret_in(b"".join(bodies), values, "the OTLP export")


def test_credentials_under_any_name_are_redacted(tmp_path: Path) -> None:
    """A password named ``pwd``, a DSN in an env-style local, a ``Bearer`` token in a
    tuple: a user reads "secrets redacted" as these too (they were shown whole)."""
    values = {
        "TEL_SECRET_PWD": "pwd-" + secrets.token_hex(8),
        "TEL_SECRET_URL": "Zq9" + secrets.token_hex(8),
        "TEL_SECRET_BEARER": "eyJ" + secrets.token_hex(12),
    }
    proc, path = run("credentials", tmp_path, **values)
    assert "root: builtins.ConnectionError from sroot/worker" in proc.stdout
    found = the_locals(path)
    assert found["pwd"] == "[redacted]"
    assert found["DATABASE_URL"] == "'postgresql://app:[redacted]@db.internal:5432/app'"
    assert found["header"] == "('Authorization', 'Bearer [redacted]')"
    assert found["dsn"] == "{'primary': 'postgresql://app:[redacted]@db.internal:5432/app'}"
    no_secret_in(path.read_bytes(), values, "the telemetry file")


def test_credentials_by_shape_are_replaced_where_they_show(tmp_path: Path) -> None:
    """A URL's password of any length (3 characters; 260, its ``@`` past the 200 shown),
    an ``Authorization`` tuple's ``Basic`` value, replaced in place; prose after "basic"
    and the environment's ``PWD`` are no secrets, nor is a directory under a secret's
    name scrubbed from other locals (they hid the next word and the current directory
    from every local)."""
    long_pw = secrets.token_urlsafe(300).replace("-", "x").replace("_", "y")[:260]
    basic = "".join(c for c in secrets.token_urlsafe(40) if c.isalpha())[:24]
    values = {
        "TEL_SECRET_SHORT": secrets.token_hex(1) + "q",
        "TEL_SECRET_LONG": long_pw,
        "TEL_SECRET_BASIC": basic,
    }
    proc, path = run("by_shape", tmp_path, PWD=str(HERE), **values)
    assert "root: builtins.ConnectionError from sroot/worker" in proc.stdout
    found = the_locals(path)
    assert found["short_url"] == "'redis://:[redacted]@cache:6379/0'"
    assert found["long_url"] == "'postgresql://svc:[redacted]@db.internal/app'"
    assert found["basic"] == "('Authorization', 'Basic [redacted]')"
    assert found["note"] == "'check the basic configuration of the proxy'"
    assert found["hint"] == "'see configuration'"
    assert found["key_dir"] == "[redacted]"  # shown nowhere else: a path is no secret
    assert found["out_path"] == repr(str(HERE / "report.csv"))
    data = path.read_bytes()
    assert f"://:{values['TEL_SECRET_SHORT']}@".encode() not in data
    assert long_pw[:20].encode() not in data
    assert basic.encode() not in data


def test_off_by_setting(tmp_path: Path) -> None:
    _, path = run("connect", tmp_path, DEVX_CRASH_LOCALS="0", **_secrets())
    crashes = crash_records(path)
    assert crashes and all(schema.CRASH_LOCALS not in r["attributes"] for r in crashes)


def test_redaction_pattern_is_a_setting(tmp_path: Path) -> None:
    values = _secrets()
    _, path = run("connect", tmp_path, DEVX_CRASH_LOCALS_REDACT="^user$|retr", **values)
    found = the_locals(path)
    assert found["user"] == "[redacted]" and found["retries"] == "[redacted]"
    assert found["password"] != "[redacted]"  # the pattern replaced the default one
    assert "alice" not in json.dumps(found)  # scrubbed from the url and conf too


def test_a_stuck_repr_does_not_hold_the_crash(tmp_path: Path) -> None:
    proc, path = run("stuck", tmp_path)
    assert "root: builtins.ValueError from sroot/worker" in proc.stdout
    found = the_locals(path)
    assert found["hang"] == "<not shown: time budget spent>"
    assert set(found) == {"first", "hang"}


def test_only_names_the_code_wrote(tmp_path: Path) -> None:
    """A crash inside a generator expression (or a 3.11 comprehension): its hidden
    iterator argument ``.0`` is no local the user wrote (it showed as
    ``.0 = <list_iterator object at 0x...>``)."""
    proc, path = run("in_genexpr", tmp_path)
    assert "root: builtins.ZeroDivisionError from sroot/worker" in proc.stdout
    assert the_locals(path) == {"n": "0"}


def test_timeline_shows_the_locals_under_the_crash(tmp_path: Path) -> None:
    values = _secrets()
    _, path = run("connect", tmp_path, **values)
    out = subprocess.run(
        [sys.executable, "-m", "devx", "timeline", str(path)],
        env=clean_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=True,
    ).stdout
    lines = out.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "crash" in line and "ConnectionError" in line]
    assert lines[at + 1].strip() == "user = 'alice'"
    assert lines[at + 2].strip() == "api_key = [redacted]"
    assert "url = 'postgres://alice:[redacted]@db.local/app'" in out
    no_secret_in(out.encode(), values, "the timeline")
