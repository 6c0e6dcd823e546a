"""OTLP/HTTP export against a real local receiver that decodes the protobuf payloads."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tel_support import fake_actor

from conftest import run_script, scaled
from devx.core import events
from devx.telemetry import backend, boot

pytestmark = pytest.mark.timeout(60)


class Receiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP receiver: /v1/traces and /v1/logs, protobuf bodies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.traces: list[ExportTraceServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self.content_types: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.content_types.add(self.headers["Content-Type"])
        if self.path == "/v1/traces":
            self.server.traces.append(ExportTraceServiceRequest.FromString(body))
            reply = ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/logs":
            self.server.logs.append(ExportLogsServiceRequest.FromString(body))
            reply = ExportLogsServiceResponse().SerializeToString()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import conftest

    for key in set(os.environ) - set(conftest.clean_env()):
        monkeypatch.delenv(key)
    monkeypatch.setenv("DEVX_TELEMETRY_QUIET", "1")
    backend.reset_warnings()


# an exporter left alone would wait this long for a collector that never answers:
# well beyond the bounds below, so a bound that holds is devx's doing (and not so
# long that its thread, left behind, outlives the next few tests)
EXPORTER_TIMEOUT_S = "15"


def warnings_of(err: str) -> list[str]:
    """The telemetry warnings on stderr (JSON log lines), without the common prefix;
    anything else there fails the test."""
    out = []
    for line in err.splitlines():
        doc = json.loads(line)
        assert doc["level"] == "warning" and doc["logger"] == "devx.telemetry", line
        assert doc["event"].startswith("devx telemetry: "), line
        out.append(doc["event"].removeprefix("devx telemetry: "))
    return out


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def collector_warnings(stderr: str) -> list[str]:
    """The dead-collector warnings among a tree's JSON log lines (other lines, such
    as a named file's notice, are plain text and skipped)."""
    logged = "\n".join(line for line in stderr.splitlines() if line.startswith("{"))
    return [w for w in warnings_of(logged) if "OTLP collector fails" in w]


def source_of(warning: str) -> str:
    """What warned: one of devx's bounded steps or exporters, or an SDK logger."""
    for kind in ("flush", "shutdown"):
        if warning.startswith(f"telemetry {kind} did not finish within"):
            return kind
    if warning.startswith("OTLP/HTTP ") and " export failed" in warning:
        return "exporter"  # spans and logs share one warning
    return warning.split(":", 1)[0]  # the SDK's own logger, e.g. ...trace_exporter


def attrs_of(kvs) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


def test_spans_and_logs_arrive_with_their_attributes(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    actor = fake_actor("otlproot")
    session = boot.Session(actor).start()
    assert session.file is None  # OTLP replaces the embedded default file
    with events.span("devx.repl", **{"code.function.name": "f", "code.line.number": 12}):
        events.event("devx.tty_lock.requested", wait_s=0.5, reason="pause")
    session.close()

    spans = {}
    for req in receiver.traces:
        for rs in req.resource_spans:
            resource = attrs_of(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans[s.name] = (s, resource)
    assert set(spans) == {
        "devx.tree.start",
        "devx.tree",
        "devx.actor.start",
        "devx.actor",
        "devx.repl",
    }
    repl, resource = spans["devx.repl"]
    assert resource["service.name"] == "otlproot"
    assert resource["service.instance.id"] == actor.uid.uuid
    assert resource["devx.actor.path"] == "otlproot"
    assert resource["process.pid"] == actor.pid
    a = attrs_of(repl.attributes)
    assert a["code.function.name"] == "f" and a["code.line.number"] == 12
    assert a["devx.actor.uid"] == str(actor.uid) and a["devx.actor.path"] == "otlproot"
    assert repl.parent_span_id == spans["devx.actor"][0].span_id
    assert spans["devx.actor"][0].parent_span_id == spans["devx.tree"][0].span_id
    assert spans["devx.tree"][0].parent_span_id == spans["devx.tree.start"][0].span_id
    assert spans["devx.actor.start"][0].parent_span_id == spans["devx.tree.start"][0].span_id
    assert len({s.trace_id for s, _ in spans.values()}) == 1
    assert [e.name for e in repl.events] == ["devx.tty_lock.requested"]

    records = [
        r
        for req in receiver.logs
        for rl in req.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    ]
    (lock,) = [r for r in records if r.event_name == "devx.tty_lock.requested"]
    assert lock.span_id == repl.span_id and attrs_of(lock.attributes)["wait_s"] == 0.5
    assert receiver.content_types == {"application/x-protobuf"}


def test_a_collector_only_root_says_where_its_telemetry_went(receiver: Receiver) -> None:
    """A real tree with no file: DEVX_TELEMETRY_NOTICE=1 names the collector at the
    root's exit (it said nothing: the notice only knew files)."""
    # credentials in the endpoint never reach the terminal (or a CI log)
    with_creds = receiver.endpoint.replace("://", "://ci:s3cret@")
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": with_creds, "DEVX_TELEMETRY_NOTICE": "1"}
    out = run_script("-c", _ONE_CHILD_TREE, **env)
    assert out.returncode == 0, out.stdout + out.stderr
    said = f"devx: telemetry sent (OTLP/HTTP) to {receiver.endpoint}"
    assert said in out.stderr.splitlines(), out.stderr
    assert "s3cret" not in out.stderr
    assert receiver.traces


def test_a_dead_collector_never_hangs_an_actor(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # a listener that never accepts: connects succeed, requests never get an answer
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{blackhole.getsockname()[1]}"
    )
    monkeypatch.setenv("DEVX_TELEMETRY_EXIT_TIMEOUT", "1.0")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", EXPORTER_TIMEOUT_S)
    try:
        session = boot.Session(fake_actor("deadroot")).start()
        for i in range(20):
            with events.span("work", i=i):
                pass
        t0 = time.monotonic()
        events.flush(0.5)
        events.exception(RuntimeError("crash while the collector is down"))
        session.close()
        assert time.monotonic() - t0 < 1.5 + scaled(1.0)  # the flush's and the exit's bounds
    finally:
        blackhole.close()
    warned = warnings_of(capsys.readouterr().err)
    # one warning for a failing collector, whatever failed first (here the flush),
    # not per kind, batch or record
    assert len(warned) == 1, warned
    assert warned[0].startswith("exporting to the OTLP collector fails (telemetry flush")


def test_unreachable_collector_warns_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    port = closed_port()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DEVX_TELEMETRY_EXIT_TIMEOUT", "2.0")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", EXPORTER_TIMEOUT_S)  # retries that long
    session = boot.Session(fake_actor("refused")).start()
    with events.span("work"):
        events.event("x")
    t0 = time.monotonic()
    session.close()
    assert time.monotonic() - t0 < 2.0 + scaled(1.0)  # the exit's bound
    warned = warnings_of(capsys.readouterr().err)
    # the SDK's retries, the exporter's failure and the exit that gave up waiting all
    # say the same thing: once
    assert len(warned) == 1, warned
    assert warned[0].startswith("exporting to the OTLP collector fails"), warned
    assert "127.0.0.1" in warned[0] or "not waiting any longer" in warned[0]


def test_a_collector_that_is_not_running_costs_no_retries() -> None:
    """Connection refused where the collector should be (`docker compose up`
    forgotten): every actor's exports fail at once, so the tree does not wait out
    its exit bound (here 60 s, with the SDK allowed 60 s of retries) for records that
    cannot arrive; the one warning says what is wrong."""
    port = closed_port()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "60",
        "DEVX_TELEMETRY_EXIT_TIMEOUT": "60",
    }
    out = run_script("-c", _ONE_CHILD_TREE, timeout=scaled(15), **env)
    assert out.returncode == 0, out.stdout + out.stderr
    warned = collector_warnings(out.stderr)
    assert len(warned) == 1, out.stderr
    assert f"nothing listens at 127.0.0.1:{port} (is the collector running?)" in warned[0]


def test_behind_a_proxy_the_exporter_judges_the_collector() -> None:
    """With a proxy in the way (HTTP_PROXY, no NO_PROXY for the host) a direct connect
    says nothing of the exporter's route: no probe, the exporter's own failure is the
    warning (review6 on 7175e01)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "HTTP_PROXY": f"http://127.0.0.1:{port}",  # nothing there either: export fails
        "NO_PROXY": "",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "DEVX_TELEMETRY_EXIT_TIMEOUT": "1",
    }
    out = run_script("-c", _ONE_CHILD_TREE, **env)
    assert out.returncode == 0, out.stdout + out.stderr
    warned = collector_warnings(out.stderr)
    assert len(warned) == 1, out.stderr
    assert "nothing listens" not in warned[0], warned[0]


# a one-child tree (the tests give it a live collector, or one nothing listens on)
_ONE_CHILD_TREE = """
import trio, devx

async def main():
    async with devx.open_nursery(name="deadtree") as an:
        portal = await an.start_actor("w", enable_modules=["json"])
        print(await portal.run_from_ns("json", "dumps", obj=[1, 2]))

trio.run(main)
"""


def test_a_dead_collectors_exit_notice_points_at_the_log_file_holding_its_warning(
    tmp_path,
) -> None:
    """A service logs to DEVX_LOG_FILE (its stderr a journal): the collector's warning
    is a line of that file, yet the exit notice on stderr said 'see the warning
    above', where there was none. It names the file."""
    port = closed_port()
    log = tmp_path / "devx.log.jsonl"
    out = run_script(
        "-c",
        _ONE_CHILD_TREE,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
        DEVX_TELEMETRY_EXIT_TIMEOUT="1",
        DEVX_LOG_FILE=str(log),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    said = f"devx: telemetry NOT fully sent (OTLP/HTTP) to http://127.0.0.1:{port}"
    assert f"{said}: see the warning in {log}" in out.stderr, out.stderr
    assert "the warning above" not in out.stderr, out.stderr
    assert collector_warnings(log.read_text()), log.read_text()


@pytest.mark.parametrize(
    "keep_file",
    [False, True, "unwritable"],
    ids=["otlp-only", "otlp-and-file", "otlp-and-an-unwritable-file"],
)
def test_a_dead_collectors_warning_says_where_the_records_still_are(tmp_path, keep_file) -> None:
    """A real tree: the one warning names the telemetry file when one is written,
    and says none is (and how to get one) when the endpoint turned the default off,
    or when the file cannot be written (its own warning names it)."""
    port = closed_port()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "DEVX_TELEMETRY_EXIT_TIMEOUT": "1",
    }
    file = tmp_path / "kept.otlp.jsonl"
    if keep_file == "unwritable":  # (a file where its folder would be: even root fails)
        (tmp_path / "not-a-folder").write_text("")
        file = tmp_path / "not-a-folder" / "sub" / "kept.otlp.jsonl"
    if keep_file:
        env["DEVX_TELEMETRY_FILE"] = str(file)
    out = run_script("-c", _ONE_CHILD_TREE, **env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[0] == "[1, 2]"
    # (a named file is also announced on stderr, in a plain line)
    warned = collector_warnings(out.stderr)
    assert len(warned) == 1, out.stderr
    if keep_file is True:
        assert f"(the telemetry file {file} still has them)" in warned[0]
        assert file.stat().st_size > 0
    elif keep_file == "unwritable":
        assert "still has them" not in warned[0], warned[0]
        assert "no telemetry file is written" in warned[0], warned[0]
        logged = "\n".join(line for line in out.stderr.splitlines() if line.startswith("{"))
        failed = [w for w in warnings_of(logged) if f"writing the telemetry file {file}" in w]
        assert failed, out.stderr
    else:
        assert "telemetry file" in warned[0]  # the claim it has them would be false
        assert "no telemetry file is written: DEVX_TELEMETRY_FILE=PATH keeps one" in warned[0]
        # a collector-only tree's exit notice (with the warning: always) says it failed
        said = f"devx: telemetry NOT fully sent (OTLP/HTTP) to http://127.0.0.1:{port}"
        assert said in out.stderr, out.stderr
