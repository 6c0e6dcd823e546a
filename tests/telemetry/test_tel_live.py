"""What a person watching Jaeger sees, against a real OTLP/HTTP receiver (protobuf):
a hold is visible while its REPL is still open; the crashing child's actor span is
ERROR with the real exception; the crash is recorded before its REPL; the REPL span
is a child of its hold span; each actor is its own service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from tel_support import run_clean
from test_tel_otlp import (
    Receiver,
    attrs_of,
    receiver,  # noqa: F401  (the fixture)
)

from _pty import banner, repl_fixture
from conftest import scaled, wait_until
from devx.core import schema

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "debugging"
repl = repl_fixture(EXAMPLES)


def spans_of(receiver: Receiver) -> list[tuple[Any, dict[str, Any], dict[str, Any]]]:  # noqa: F811
    """(span, its attributes, its resource) for every span received so far."""
    out = []
    for req in list(receiver.traces):
        for rs in req.resource_spans:
            resource = attrs_of(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append((s, attrs_of(s.attributes), resource))
    return out


def logs_of(receiver: Receiver, name: str) -> list[Any]:  # noqa: F811
    return [
        rec
        for req in list(receiver.logs)
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for rec in sl.log_records
        if rec.event_name == name
    ]


def test_a_crash_and_its_hold_as_a_receiver_sees_them(repl, receiver):  # noqa: F811
    r = repl(
        "child_crash.py",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
    )
    r.expect(banner("CRASH", "divider", "root/divider"))
    r.prompt()

    # while the child's post-mortem REPL is open, its hold is at the receiver
    def live_hold() -> list[Any]:
        return [
            (s, a)
            for s, a, res in spans_of(receiver)
            if s.name == schema.LOCK_WAIT_SPAN and res["devx.actor.path"] == "root/divider"
        ]

    (_wait_span, wait_attrs), *_ = wait_until(live_hold, scaled(15), "the hold at the receiver")
    hold_id = wait_attrs[schema.HOLD_ID]
    assert hold_id >= 1 and wait_attrs[schema.REASON] == "crash"
    r.child.sendline("c")
    r.expect(banner("CRASH", "root", "root"))
    r.prompt()
    r.child.sendline("c")
    r.finish()

    spans = spans_of(receiver)
    by_name = {}
    for s, a, res in spans:
        by_name.setdefault((s.name, res["devx.actor.path"]), []).append((s, a, res))
    (held, held_attrs, _), *_ = by_name[(schema.LOCK_HELD_SPAN, "root/divider")]
    (repl_span, repl_attrs, res), *_ = by_name[(schema.REPL_SPAN, "root/divider")]
    assert held_attrs[schema.HOLD_ID] == hold_id == repl_attrs[schema.HOLD_ID]
    assert repl_span.parent_span_id == held.span_id, "the REPL span is a child of its hold"
    assert res["service.name"] == "child_crash/divider"  # an unnamed tree: its program
    assert res["service.namespace"] == "child_crash"

    # the crashing child's actor span is ERROR, naming the exception
    (actor, _, _), *_ = by_name[("devx.actor", "root/divider")]
    assert actor.status.code == 2  # STATUS_CODE_ERROR
    assert "ZeroDivisionError" in actor.status.message
    # ... and its crash was recorded when raised, before its REPL opened
    crash = [
        rec
        for rec in logs_of(receiver, "devx.crash")
        if attrs_of(rec.attributes).get("devx.actor.path") == "root/divider"
    ]
    assert len(crash) == 1
    assert crash[0].time_unix_nano <= repl_span.start_time_unix_nano


TINY_TREE = """
import trio, devx

async def main():
    async with devx.open_root_actor(name="proto"):
        pass

trio.run(main)
"""


@pytest.mark.parametrize(
    "protocol, says",
    [("http/json", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not supported")],
)
def test_an_unsupported_otlp_protocol_is_refused_in_one_line(receiver, tmp_path, protocol, says):  # noqa: F811
    proc = run_clean(
        [sys.executable, "-c", TINY_TREE],
        scaled(30),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        DEVX_TELEMETRY_FILE=str(tmp_path / "t.jsonl"),
        DEVX_TELEMETRY_QUIET="1",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(says) == 1, proc.stderr
    assert not receiver.traces and not receiver.logs  # nothing sent in another encoding
    assert (tmp_path / "t.jsonl").stat().st_size > 0  # the file is still written


def test_grpc_without_its_extra_never_says_the_telemetry_was_sent(receiver):  # noqa: F811
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc without the [otlp] extra: the export is off (one
    warning says so), and the exit notice said 'devx: telemetry sent (OTLP/gRPC) to ...'
    all the same, of records sent nowhere."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the gRPC exporter is installed here")
    proc = run_clean(
        [sys.executable, "-c", TINY_TREE],
        scaled(30),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        DEVX_TELEMETRY_NOTICE="1",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter") == 1
    assert "telemetry sent" not in proc.stderr, proc.stderr
    assert not receiver.traces and not receiver.logs


def test_an_unsupported_protocol_keeps_the_records_in_the_default_file(receiver, tmp_path):  # noqa: F811
    """An endpoint turns the default file off; a protocol the SDK cannot export turned
    the export off too, so nothing was recorded anywhere (the README said the file is
    still written). The default file stays on then, and the one warning names it."""
    import os

    proc = run_clean(
        [sys.executable, "-c", TINY_TREE],
        scaled(30),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        TMPDIR=str(tmp_path),
        DEVX_TELEMETRY_QUIET="1",
    )
    assert proc.returncode == 0, proc.stderr
    (written,) = (tmp_path / f"devx-telemetry-{os.getuid()}").glob("proto-*.otlp.jsonl")
    assert written.stat().st_size > 0
    assert (
        proc.stderr.count(f"OTLP export is off and the records go to the telemetry file {written}")
        == 1
    ), proc.stderr
    assert not receiver.traces and not receiver.logs


OUTER = """
import trio, devx, tel_nested

async def main():
    async with devx.open_nursery(name="outer") as an:
        starter = await an.start_actor("starter", enable_modules=["tel_nested"])
        assert await starter.run(tel_nested.run_nested_tree) == 0

trio.run(main)
"""


def test_a_tree_started_by_a_child_hangs_under_that_child(tmp_path):
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    proc = run_clean(
        [sys.executable, "-c", OUTER],
        scaled(60),
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_TELEMETRY_QUIET="1",
        PYTHONPATH=str(Path(__file__).parent),
    )
    assert proc.returncode == 0, proc.stderr
    spans = load_spans(trace)
    starter = next(
        s
        for s in spans
        if s["name"] == "devx.actor" and s["attributes"]["devx.actor.path"] == "outer/starter"
    )
    # under the starter's start span (exported at its boot): rooted while it runs
    anchor = next(
        s
        for s in spans
        if s["name"] == "devx.actor.start" and s["attributes"]["devx.actor.path"] == "outer/starter"
    )
    assert anchor["trace_id"] == starter["trace_id"]
    trees = [s for s in spans if s["name"] == "devx.tree.start"]
    nested = next(s for s in trees if s["attributes"]["devx.tree.root"] == "nested")
    assert nested["trace_id"] == starter["trace_id"]
    assert nested["parent_span_id"] == anchor["span_id"]


def test_each_error_is_on_record_once_with_its_real_name(tmp_path):
    from devx.telemetry.readback import load_logs, load_spans

    trace = tmp_path / "t.jsonl"
    proc = run_clean(
        [sys.executable, str(EXAMPLES / "child_crash.py")],
        scaled(60),
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_TELEMETRY_QUIET="1",
    )
    assert proc.returncode == 1, proc.stderr
    logs = load_logs(trace)
    names = [(r["event_name"], r["resource"]["devx.actor.path"]) for r in logs]
    assert names.count(("devx.crash", "root/divider")) == 1
    assert names.count(("devx.remote_error", "root")) == 1, names
    spans = load_spans(trace)
    divider = next(
        s
        for s in spans
        if s["name"] == "devx.actor" and s["attributes"]["devx.actor.path"] == "root/divider"
    )
    assert divider["status_code"] == 2 and "ZeroDivisionError" in divider["status_message"]
    root = next(
        s
        for s in spans
        if s["name"] == "devx.actor" and s["attributes"]["devx.actor.path"] == "root"
    )
    tree = next(s for s in spans if s["name"] == "devx.tree")
    for span in (root, tree):  # the error escaped the root: its outcome, named for real
        assert span["status_code"] == 2 and "ZeroDivisionError" in span["status_message"]
        assert "ExceptionGroup" not in span["status_message"]
