"""What a person sees in Jaeger or Grafana, against a real OTLP/HTTP receiver
(protobuf, the official proto classes) and the telemetry file: outcomes a tag
search finds, one-line error statuses, services named after the program, one
warning per tree."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from tel_support import run_clean
from test_tel_live import receiver, spans_of  # noqa: F401  (the receiver fixture)

from conftest import scaled
from devx.core import schema

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "debugging"
ERROR = 2  # STATUS_CODE_ERROR


def by_path(spans: list[tuple[Any, dict[str, Any], dict[str, Any]]], name: str) -> dict[str, Any]:
    """The spans called ``name``, by their actor's path: (span, attributes, resource)."""
    return {a[schema.ACTOR_PATH]: (s, a, res) for s, a, res in spans if s.name == name}


def test_a_crash_as_a_trace_view_shows_it(receiver, tmp_path):  # noqa: F811
    proc = run_clean(
        [sys.executable, str(EXAMPLES / "child_crash.py")],
        scaled(60),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
    )
    assert proc.returncode == 1, proc.stderr
    actors = by_path(spans_of(receiver), schema.ACTOR_SPAN)
    divider, divider_attrs, divider_res = actors["root/divider"]
    root, root_attrs, root_res = actors["root"]
    (tree, _, _), *_ = [t for t in spans_of(receiver) if t[0].name == schema.TREE_SPAN]

    # the actor whose code raised: crashed, a tag search finds it
    assert divider_attrs[schema.ACTOR_OUTCOME] == "crashed"
    assert divider.status.code == ERROR
    # the root: its error came from the child
    assert root_attrs[schema.ACTOR_OUTCOME] == "error"
    for span, src in ((divider, "in actor root/divider"), (root, "from actor root/divider")):
        msg = span.status.message
        assert "\n" not in msg and msg.startswith("ZeroDivisionError: division by zero"), msg
        assert msg.endswith(f"({src})"), msg
    assert tree.status.code == ERROR and tree.status.message == root.status.message

    # the services: the program's name, not "root" like every unnamed tree
    assert root_res["service.name"] == "child_crash"
    assert divider_res["service.name"] == "child_crash/divider"
    assert {root_res["service.namespace"], divider_res["service.namespace"]} == {"child_crash"}
    assert root_res["process.command"].endswith("child_crash.py")
    exe = os.path.basename(sys.executable)
    assert root_res["process.executable.name"] == divider_res["process.executable.name"] == exe
    assert root_res["process.pid"] == proc_pid_of(root_attrs)
    assert divider_res["process.pid"] != root_res["process.pid"]


def proc_pid_of(attrs: dict[str, Any]) -> int:
    return int(attrs[schema.PROCESS_PID])


PKG_MAIN = """
import trio, devx

async def hello() -> int:
    return 1

async def main():
    async with devx.open_nursery() as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        assert await portal.run(hello) == 1
        await portal.cancel_actor()

if __name__ == "__main__":
    trio.run(main)
"""


def test_python_m_pkg_is_service_pkg_and_a_refused_protocol_is_said_once(receiver, tmp_path):  # noqa: F811
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(PKG_MAIN)
    trace = tmp_path / "t.jsonl"
    env = dict(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_TELEMETRY_QUIET="1",
        PYTHONPATH=str(tmp_path),
    )
    proc = run_clean([sys.executable, "-m", "mypkg"], scaled(60), **env)
    assert proc.returncode == 0, proc.stderr
    # every actor refuses the protocol; the tree says so once
    assert proc.stderr.count("OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not supported") == 1, (
        proc.stderr
    )
    assert not receiver.traces
    from devx.telemetry.readback import load_spans

    services = {
        s["attributes"][schema.ACTOR_PATH]: s["resource"]
        for s in load_spans(trace)
        if s["name"] == schema.ACTOR_SPAN
    }
    assert services["root"]["service.name"] == "mypkg"
    assert services["root/worker"]["service.name"] == "mypkg/worker"
    assert services["root/worker"]["service.namespace"] == "mypkg"


NAMED = """
import trio, devx

async def main():
    async with devx.open_root_actor(name="billing"):
        pass

trio.run(main)
"""


def test_a_named_tree_keeps_its_name(tmp_path):
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    proc = run_clean([sys.executable, "-c", NAMED], scaled(30), DEVX_TELEMETRY_FILE=str(trace))
    assert proc.returncode == 0, proc.stderr
    (actor,) = [s for s in load_spans(trace) if s["name"] == schema.ACTOR_SPAN]
    assert actor["resource"]["service.name"] == "billing"
    assert actor["resource"]["service.namespace"] == "billing"
    assert actor["resource"]["process.command"]  # python -c: the interpreter's command
