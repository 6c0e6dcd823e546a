"""The embedded OTLP/JSON-lines exporter: valid OTLP/JSON, safe with many writers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tel_support import Memory, fake_actor

from devx.core import events
from devx.telemetry import readback
from devx.telemetry.backend import TelemetryBackend
from devx.telemetry.file_exporter import OtlpJsonFileLogExporter, OtlpJsonFileSpanExporter

pytestmark = pytest.mark.timeout(60)


def _hex_ids_to_base64(obj: object) -> object:
    """OTLP/JSON ids are hex; protobuf's generic JSON mapping expects base64."""
    if isinstance(obj, dict):
        return {
            k: (
                base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                else _hex_ids_to_base64(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_hex_ids_to_base64(v) for v in obj]
    return obj


@pytest.fixture
def written(tmp_path: Path):
    """Spans and logs produced by the real backend, written by the file exporters."""
    path = tmp_path / "t.otlp.jsonl"
    actor = fake_actor("froot")
    mem = Memory(actor)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from devx.telemetry import _logs_sdk

    mem.sink.tracer_provider.add_span_processor(
        SimpleSpanProcessor(OtlpJsonFileSpanExporter(str(path)))
    )

    mem.sink.logger_provider.add_log_record_processor(
        _logs_sdk.SimpleLogRecordProcessor(OtlpJsonFileLogExporter(str(path)))
    )
    front = TelemetryBackend(mem.factory, log_attrs=mem.lineage)
    prev = events.install(front)
    front.load_now()
    try:
        with events.span("outer", n=3, ratio=0.5, ok=True, tags=["a", "b"]):
            events.event("devx.stack_dump", signal="SIGUSR1", task_count=2, text="é dump\n")
            with pytest.raises(KeyError), events.span("inner"):
                raise KeyError("k")
    finally:
        front.shutdown(2.0)
        events.install(prev)
    return path, mem


def test_lines_are_valid_otlp_json(written) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    path, _mem = written
    kinds = set()
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        if "resourceSpans" in doc:
            msg = json_format.Parse(
                json.dumps(_hex_ids_to_base64(doc)), ExportTraceServiceRequest()
            )
            kinds.add("spans")
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    assert ss.scope.name == "devx"
                    for span in ss.spans:
                        assert len(span.trace_id) == 16 and len(span.span_id) == 8
                        assert span.kind == 1  # SPAN_KIND_INTERNAL
                        assert span.start_time_unix_nano > 1_600_000_000 * 10**9
        else:
            msg = json_format.Parse(json.dumps(_hex_ids_to_base64(doc)), ExportLogsServiceRequest())
            kinds.add("logs")
            rec = msg.resource_logs[0].scope_logs[0].log_records[0]
            assert rec.event_name and len(rec.trace_id) == 16
    assert kinds == {"spans", "logs"}


def test_readback_matches_the_sdk_objects(written) -> None:
    path, mem = written
    spans = {s["name"]: s for s in readback.load_spans(path)}
    outer_sdk = mem.finished("outer")[0]
    outer = spans["outer"]
    assert outer["trace_id"] == f"{outer_sdk.context.trace_id:032x}"
    assert outer["span_id"] == f"{outer_sdk.context.span_id:016x}"
    assert outer["start_ns"] == outer_sdk.start_time and outer["end_ns"] == outer_sdk.end_time
    assert outer["attributes"]["n"] == 3 and outer["attributes"]["ratio"] == 0.5
    assert outer["attributes"]["ok"] is True and outer["attributes"]["tags"] == ["a", "b"]
    assert outer["resource"]["devx.actor.path"] == "froot"
    assert outer["scope"] == "devx"
    inner = spans["inner"]
    assert inner["parent_span_id"] == outer["span_id"] and inner["parent_is_remote"] is False
    assert inner["status_code"] == 2 and "KeyError" in inner["status_message"]
    assert inner["events"][0]["attributes"]["exception.type"] == "KeyError"
    (dump,) = [r for r in readback.load_logs(path) if r["event_name"] == "devx.stack_dump"]
    assert dump["attributes"]["text"] == "é dump\n" and dump["span_id"] == outer["span_id"]
    assert dump["severity_text"] == "INFO"


WRITER = r"""
import json, sys
from devx.telemetry._appendfile import AppendFile
path, writer, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = AppendFile(path)
for i in range(n):
    size = (i * 7919 + writer * 104729) % 300_000  # up to ~300 KB: bigger than any pipe/page
    out.write((json.dumps({"writer": writer, "seq": i, "pad": "x" * size}) + "\n").encode())
"""


def test_many_processes_append_without_tearing_lines(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    writers, per_writer = 4, 120
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(per_writer)])
        for w in range(writers)
    ]
    deadline = time.monotonic() + 50
    for p in procs:
        assert p.wait(timeout=max(1, deadline - time.monotonic())) == 0
    seen: dict[int, list[int]] = {w: [] for w in range(writers)}
    for req in readback.iter_requests(path, strict=True):  # raises on a torn line
        seen[req["writer"]].append(req["seq"])
    for w in range(writers):
        assert seen[w] == list(range(per_writer))  # complete, and in each writer's order


def test_readback_reports_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"resourceSpans": []}\n{"resourceSp\n')
    with pytest.raises(readback.CorruptLine):
        readback.load_spans(path)
    assert readback.load_spans(path, strict=False) == []
