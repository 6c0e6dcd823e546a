"""Settings resolution, W3C traceparent handling, and the cost of the boot path."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from conftest import clean_env, run_script
from devx.telemetry import config

pytestmark = pytest.mark.timeout(60)


def resolve(telemetry: str | None = None, loglevel: str | None = None, **env: str):
    return config.resolve(
        telemetry=telemetry, loglevel=loglevel, root_name="my root", root_uuid="ab" * 16, env=env
    )


def test_default_is_a_per_tree_file(tmp_path) -> None:
    s = resolve(TMPDIR=str(tmp_path))
    assert s.enabled and s.file_is_default and s.otlp_protocol is None
    assert s.file == os.path.join(
        str(tmp_path), f"devx-telemetry-{os.getuid()}", "my_root-abababab.otlp.jsonl"
    )
    # every process of the tree derives the same path on its own: another process
    # (another pid, a fresh interpreter) finds it from the same inputs
    code = (
        "import sys; from devx.telemetry import config; print(config.resolve("
        "telemetry=None, loglevel=None, root_name='my root', root_uuid='ab' * 16, "
        "env={'TMPDIR': sys.argv[1]}).file)"
    )
    other = run_script("-c", code, str(tmp_path))
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == s.file
    assert s.service_name == "my root"
    assert s.log_level == logging.WARNING


def test_explicit_file_and_off(tmp_path) -> None:
    assert resolve(str(tmp_path / "x.jsonl")).file == str(tmp_path / "x.jsonl")
    assert resolve(DEVX_TELEMETRY_FILE="rel.jsonl").file == os.path.abspath("rel.jsonl")
    assert resolve("", DEVX_TELEMETRY_FILE="/tmp/y").enabled is False  # config wins over env
    assert resolve("off").enabled is False
    assert resolve(DEVX_TELEMETRY_FILE="off").enabled is False


def test_otlp_endpoint_replaces_the_default_file() -> None:
    s = resolve(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4318")
    assert s.enabled and s.file is None and s.otlp_protocol == "http/protobuf"
    s = resolve(
        "/tmp/both.jsonl",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://c:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
    )
    assert s.file == "/tmp/both.jsonl" and s.otlp_protocol == "grpc"


def test_sdk_disabled_wins() -> None:
    s = resolve("/tmp/x", OTEL_SDK_DISABLED="true", OTEL_EXPORTER_OTLP_ENDPOINT="http://c")
    assert not s.enabled and s.file is None and s.otlp_protocol is None and s.log_level is None
    assert resolve(OTEL_SDK_DISABLED="true", DEVX_LOG_LEVEL="debug").log_level == logging.DEBUG


def test_service_name_env_overrides_the_root_name() -> None:
    assert resolve(OTEL_SERVICE_NAME="svc").service_name is None
    assert resolve(OTEL_RESOURCE_ATTRIBUTES="a=b,service.name=svc").service_name is None


@pytest.mark.parametrize(
    "header",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future",
    ],
)
def test_traceparent_valid(header: str) -> None:
    tp = config.parse_carrier({"TRACEPARENT": header, "TRACESTATE": "k=v"})
    assert tp is not None
    assert tp.trace_id == 0x0AF7651916CD43DD8448EB211C80319C and tp.span_id == 0xB7AD6B7169203331
    assert tp.flags == 1 and tp.tracestate == "k=v"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
    ],
)
def test_traceparent_invalid(header: str) -> None:
    assert config.parse_carrier({"traceparent": header}) is None


def test_traceparent_roundtrip() -> None:
    header = config.format_traceparent(1, 2, 3)
    assert header == "00-00000000000000000000000000000001-0000000000000002-03"
    tp = config.parse_carrier({"traceparent": header})
    assert tp is not None and (tp.trace_id, tp.span_id, tp.flags) == (1, 2, 3)


BOOT_PATH = r"""
import os, sys, uuid, types
import devx
heavy = ("opentelemetry", "structlog", "google.protobuf")
assert not [m for m in sys.modules if m.startswith(heavy)], "import devx pulled in telemetry"
from devx.runtime.msgs import ActorID, Lineage, RuntimeConfig
from devx.telemetry import boot
from devx.core import events
uid = ActorID("root", uuid.uuid4().hex)
actor = types.SimpleNamespace(
    lineage=Lineage(uid, None, uid, "root", os.getpid(), os.getppid()),
    config=RuntimeConfig(), is_root=True, spawn_carrier={})
session = boot.Session(actor).start()
with events.span("x"):
    events.event("e")
loaded = [m for m in sys.modules if m.startswith(heavy)]
assert not loaded, f"the actor boot path imported {loaded[:5]}"
session.close()
print("ok", session.file)
"""


def test_import_devx_and_actor_boot_stay_light(tmp_path) -> None:
    """``import devx`` and the hook's entry import no OpenTelemetry/structlog: the SDK
    loads later on a background thread, off the child's spawn-to-ready path."""
    env = clean_env(
        DEVX_TELEMETRY_FILE=str(tmp_path / "t.jsonl"),
        DEVX_TELEMETRY_LOAD_DELAY="30",  # the loader must not race the assertion
        DEVX_TELEMETRY_QUIET="1",
    )
    out = subprocess.run(
        [sys.executable, "-c", BOOT_PATH], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
    from devx.telemetry import readback

    assert {s["name"] for s in readback.load_spans(tmp_path / "t.jsonl")} == {
        "devx.tree.start",
        "devx.tree",
        "devx.actor.start",
        "devx.actor",
        "x",
    }
