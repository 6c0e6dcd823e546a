"""The SDK-free file sink (the default): the same file as the SDK pipeline writes, and
actors that do not pay for the SDK or structlog unless they use them."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tel_support import fake_actor, run_clean

from conftest import scaled, wait_until
from devx.core import events, schema
from devx.telemetry import config, file_sink, readback
from devx.telemetry._appendfile import AppendFile
from devx.telemetry.backend import TelemetryBackend

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).parent


# a span of another trace (another tree's), as a W3C carrier names it
OTHER_TRACE = {
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "tracestate": "vendor=x",
}


def _scenario() -> None:
    """Spans, nesting, attributes of every kind, events, an error, logs, a dump, a
    span link (and a carrier that is no link)."""
    with events.span("outer", n=3, ratio=0.5, ok=True, tags=["a", "b"], big=2**62):
        events.event("devx.stack_dump", signal="SIGUSR1", task_count=2, text="é dump\n")
        with pytest.raises(KeyError), events.span("inner", where="x"):
            raise KeyError("k")
        events.event("plain", nan=float("nan"), inf=float("-inf"))
        handle = events.start_span("held")
        handle.set(how="continue")
        handle.end()
        links = [
            events.Link(OTHER_TRACE, {schema.LINK_KIND: "callee", "n": 1}),
            events.Link({"traceparent": "00-not-a-traceparent-01"}),
        ]
        with events.span("linked", links=links):
            pass


def _write_with(
    path: Path, actor: Any, build: str, *, scenario: Any = None, twice: bool = True
) -> None:
    lineage = schema.lineage_attrs(actor.lineage)
    resource = {**lineage, "service.instance.id": actor.lineage.uid.uuid, "service.name": "r"}
    if build == "file_sink":

        def factory() -> Any:
            return file_sink.FileSink(
                AppendFile(str(path)), resource_attrs=resource, lineage=lineage
            )

    else:
        settings = config.Settings(enabled=True, file=str(path))

        def factory() -> Any:
            from devx.telemetry import otel

            return otel.build_sink(settings, lineage, resource)

    front = TelemetryBackend(factory, log_attrs=lineage)
    prev = events.install(front)
    scenario = scenario or _scenario
    try:
        if twice:
            scenario()  # recorded before the sink loads: replayed into it
        front.load_now()
        scenario()  # straight into the sink
    finally:
        front.shutdown(5.0)
        events.install(prev)


def _comparable(path: Path) -> tuple[list[Any], list[Any]]:
    """Spans and logs without what differs by nature: ids, times, the SDK identity."""

    def resource(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r.items() if not k.startswith("telemetry.sdk.")}

    spans = readback.load_spans(path)
    index = readback.by_id(spans)
    out_spans = sorted(
        (
            s["name"],
            index[s["parent_span_id"]]["name"] if s["parent_span_id"] in index else None,
            s["kind"],
            json.dumps(s["attributes"], sort_keys=True, default=str),
            json.dumps([(e["name"], e["attributes"]) for e in s["events"]], default=str),
            json.dumps(s["links"], sort_keys=True),
            s["status_code"],
            s["status_message"],
            json.dumps(resource(s["resource"]), sort_keys=True),
            s["scope"],
        )
        for s in spans
    )
    out_logs = sorted(
        (
            r["event_name"],
            r["severity_number"],
            r["severity_text"],
            str(r["body"]),
            json.dumps(
                {k: v for k, v in r["attributes"].items() if k != "exception.stacktrace"},
                sort_keys=True,
                default=str,
            ),
            (r["span_id"] in index) if r["span_id"] else None,
            json.dumps(resource(r["resource"]), sort_keys=True),
        )
        for r in readback.load_logs(path)
    )
    return out_spans, out_logs


def test_the_file_sink_writes_what_the_sdk_pipeline_writes(tmp_path: Path) -> None:
    actor = fake_actor("froot")
    _write_with(tmp_path / "sdk.jsonl", actor, "sdk")
    _write_with(tmp_path / "lite.jsonl", actor, "file_sink")
    sdk_spans, sdk_logs = _comparable(tmp_path / "sdk.jsonl")
    lite_spans, lite_logs = _comparable(tmp_path / "lite.jsonl")
    assert len(sdk_spans) == 8 and len(sdk_logs) >= 4, (sdk_spans, sdk_logs)
    assert lite_spans == sdk_spans
    assert lite_logs == sdk_logs
    raw_links = [
        link
        for name in ("sdk.jsonl", "lite.jsonl")
        for line in (tmp_path / name).read_text().splitlines()
        for rs in json.loads(line).get("resourceSpans", ())
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
        for link in span.get("links", ())
    ]
    # sampled, remote (0x300), with its tracestate: both writers alike
    assert [(x["flags"], x["traceState"]) for x in raw_links] == 4 * [(0x301, "vendor=x")]
    linked = [s for s in readback.load_spans(tmp_path / "lite.jsonl") if s["name"] == "linked"]
    assert [s["links"] for s in linked] == 2 * [
        [
            {
                "trace_id": "0af7651916cd43dd8448eb211c80319c",
                "span_id": "b7ad6b7169203331",
                "attributes": {schema.LINK_KIND: "callee", "n": 1},
            }
        ]
    ]
    sdk_name = {
        s["resource"]["telemetry.sdk.name"] for s in readback.load_spans(tmp_path / "lite.jsonl")
    }
    assert sdk_name == {"devx"}  # says honestly who wrote it


def test_file_sink_lines_are_valid_otlp_json(tmp_path: Path) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from test_tel_file import _hex_ids_to_base64

    path = tmp_path / "lite.jsonl"
    _write_with(path, fake_actor("froot"), "file_sink")
    kinds = set()
    for line in path.read_text().splitlines():
        doc = _hex_ids_to_base64(json.loads(line))
        if "resourceSpans" in doc:
            msg = json_format.Parse(json.dumps(doc), ExportTraceServiceRequest())
            for span in msg.resource_spans[0].scope_spans[0].spans:
                assert len(span.trace_id) == 16 and len(span.span_id) == 8 and span.kind == 1
            kinds.add("spans")
        else:
            msg = json_format.Parse(json.dumps(doc), ExportLogsServiceRequest())
            kinds.add("logs")
    assert kinds == {"spans", "logs"}


def test_flush_waits_for_the_writer_and_many_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    actor = fake_actor("froot")
    lineage = schema.lineage_attrs(actor.lineage)
    sink = file_sink.FileSink(AppendFile(str(path)), resource_attrs=lineage, lineage=lineage)
    front = TelemetryBackend(lambda: sink, log_attrs=lineage)
    prev = events.install(front)
    front.load_now()
    try:

        def work(t: int) -> None:
            for i in range(500):
                with events.span("s", t=t, i=i):
                    events.event("e", t=t, i=i)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sink.flush(scaled(10))  # what was recorded before flush() is on disk now
        spans = readback.load_spans(path)
        logs = [r for r in readback.load_logs(path) if r["event_name"] == "e"]
        assert len(spans) == 2000 and len(logs) == 2000
        assert {(s["attributes"]["t"], s["attributes"]["i"]) for s in spans} == {
            (t, i) for t in range(4) for i in range(500)
        }
    finally:
        front.shutdown(5.0)
        events.install(prev)
    assert sink._closed
    # the file is closed once written (one fd per tree would leak in a long process)
    assert str(path) not in _open_files()


def test_the_writer_starts_with_the_sink_and_flush_soon_keeps_one_thread(tmp_path: Path) -> None:
    """The writer runs from the sink's start (not started by the first record), and
    flush_soon (each REPL start calls it) reuses one flusher thread."""
    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    sink = file_sink.FileSink(AppendFile(str(path)), resource_attrs=lineage, lineage=lineage)
    assert sink._thread is not None and sink._thread.is_alive()
    front = TelemetryBackend(lambda: sink, log_attrs=lineage)
    prev = events.install(front)
    front.load_now()
    try:
        for i in range(1000):
            events.event("burst", i=i)
        for _ in range(50):
            events.flush_soon(scaled(5))
        wait_until(
            lambda: path.exists() and len(readback.load_logs(path)) == 1000,
            scaled(10),
            "the burst on disk",
        )
        flushers = [t for t in threading.enumerate() if t.name == "devx-telemetry-flush-soon"]
        assert len(flushers) == 1
    finally:
        front.shutdown(5.0)
        events.install(prev)


class _Watched(AppendFile):
    """The real appender, noting which thread wrote and whether a write was inline."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.inline: list[bool] = []  # write_now's results
        self.writers: list[str] = []
        self.tried = threading.Event()  # write_now has returned

    def write_now(self, data: bytes) -> bool:
        done = super().write_now(data)
        self.inline.append(done)
        self.tried.set()
        return done

    def write(self, data: bytes) -> None:
        self.writers.append(threading.current_thread().name)
        super().write(data)


@pytest.mark.parametrize("lock", ["free", "held"])
def test_the_last_batch_is_written_by_shutdown_itself_unless_the_file_is_busy(
    tmp_path: Path, lock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown writes what is pending on its own thread (no hand-off to the writer
    and back) when the file's lock is free at once; a lock held elsewhere (another
    process of the tree in the middle of a line) leaves it to the writer, which
    writes it once the lock is free: nothing lost, nothing twice."""
    import fcntl

    monkeypatch.setattr(file_sink, "LINGER", 600.0)  # the writer leaves the last ones to us
    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    out = _Watched(str(path))
    sink = file_sink.FileSink(out, resource_attrs=lineage, lineage=lineage)
    sink.log("first", {}, None, 1, 9, None)
    assert sink.flush(scaled(5))  # the file is open now
    n = file_sink.LINE_RECORDS - 1  # not a full line: the writer waits for more
    for i in range(n):
        sink.log("last", {"i": i}, None, 1, 9, None)
    holder = os.open(path, os.O_WRONLY | os.O_APPEND)

    def release_once_tried() -> None:  # shutdown found the lock taken: now free it
        out.tried.wait(scaled(10))
        fcntl.flock(holder, fcntl.LOCK_UN)

    releaser = threading.Thread(target=release_once_tried)
    try:
        if lock == "held":
            fcntl.flock(holder, fcntl.LOCK_EX)
            releaser.start()
        assert sink.shutdown(scaled(10))
    finally:
        if releaser.is_alive():
            releaser.join()
        os.close(holder)
    got = [r["attributes"]["i"] for r in readback.load_logs(path) if r["event_name"] == "last"]
    assert sorted(got) == list(range(n))
    assert out.inline == [lock == "free"]
    assert out.writers == ["devx-telemetry-file"] * (1 if lock == "free" else 2)


@pytest.mark.parametrize("lock", ["free", "held"])
def test_a_sink_loaded_inline_writes_its_boot_records_itself_and_its_writer_starts_later(
    tmp_path: Path, lock: str
) -> None:
    """A child's boot loads the file sink on its own thread (no loader thread beside
    it, no writer thread): what it recorded before is written there and then; the
    writer starts once the boot is over (start_writer), for what comes later. A lock
    held elsewhere (another process of the tree writing a line) leaves the boot's
    records to the writer, started at once: nothing lost, nothing twice, the boot never
    waits for the lock."""
    import fcntl

    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("fchild").lineage)
    out = _Watched(str(path))
    built: list[file_sink.FileSink] = []

    def factory() -> file_sink.FileSink:
        assert not built, "built twice"
        built.append(file_sink.FileSink(out, resource_attrs=lineage, lineage=lineage, writer=False))
        assert built[0]._thread is None  # no writer thread in the boot
        return built[0]

    front = TelemetryBackend(factory, log_attrs=lineage)
    prev = events.install(front)
    holder = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if lock == "held":
            fcntl.flock(holder, fcntl.LOCK_EX)
        events.start_span("devx.actor.start").end()  # recorded before the sink is in
        events.event("booting", i=0)
        assert front.load_inline()
        assert not front.load_inline()  # one load
        sink = built[0]
        assert out.inline == [lock == "free"]  # tried on this thread, never waited
        # no writer thread in the boot, unless the boot's records are the writer's
        assert (sink._thread is None) == (lock == "free")
        # a line just written: the next record waits for the linger (or a flush), as
        # after the writer's own line, instead of waking it (a child's cancel record
        # woke it in the middle of the child's exit)
        assert sink._lingering == (lock == "free")
        events.event("later", i=1)  # (waits for the writer)
        sink.start_writer()  # the boot is over
        assert sink._thread is not None and sink._thread.is_alive()
        if lock == "held":
            fcntl.flock(holder, fcntl.LOCK_UN)
        front.flush(scaled(10))
    finally:
        front.shutdown(scaled(10))
        events.install(prev)
        os.close(holder)
    names = [r["event_name"] for r in readback.load_logs(path)]
    assert sorted(names) == ["booting", "later"]
    assert [sp["name"] for sp in readback.load_spans(path)] == ["devx.actor.start"]
    # the rest by the writer (the held lock's batch and the later record: one line or two)
    assert out.writers and set(out.writers) == {"devx-telemetry-file"}
    assert len(out.writers) == 1 or lock == "held"


def test_linger_puts_an_idle_writer_into_its_wait_and_the_exit_writes_what_came(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """linger() (a nursery asked its children to cancel): an idle writer leaves its
    idle wait for its timed one, so the teardown's records do not wake it one by one;
    what came meanwhile is written by the exit itself (or at the linger's end)."""
    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    out = _Watched(str(path))
    sink = file_sink.FileSink(out, resource_attrs=lineage, lineage=lineage)
    sink.log("first", {"i": -1}, None, 1, 9, None)
    assert sink.flush(scaled(5))  # the file is open now
    wait_until(lambda: sink._blocked == 1, scaled(5), "the writer idle after its linger")
    monkeypatch.setattr(file_sink, "LINGER", 600.0)  # its end never comes in this test
    sink.linger()
    wait_until(lambda: sink._blocked == 0, scaled(5), "the writer in its linger")
    assert sink._lingering
    for i in range(3):
        sink.log("teardown", {"i": i}, None, 1, 9, None)
    assert sink.shutdown(scaled(10))
    got = [r["attributes"]["i"] for r in readback.load_logs(path)]
    assert got == [-1, 0, 1, 2]
    # the first by the writer, the teardown's by the exit itself, at once
    assert out.writers == ["devx-telemetry-file"] and out.inline == [True]


def _complete_logs(path: Path) -> list[dict[str, Any]]:
    """The log records of the lines written so far: a line the writer is still
    appending is not one yet (read strictly, its half raised CorruptLine)."""
    data = path.read_bytes()
    done = data[: data.rfind(b"\n") + 1]
    return [r for line in done.splitlines() for r in readback.logs_of(json.loads(line))]


def test_a_burst_reaches_the_file_in_small_lines_without_a_flush(tmp_path: Path) -> None:
    """No flush asked for: a lone record and a burst both reach the file, and every
    line holds at most LINE_RECORDS records (the writer lets the GIL go between
    lines, so the trio thread never waits for a whole burst's encoding)."""
    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    sink = file_sink.FileSink(AppendFile(str(path)), resource_attrs=lineage, lineage=lineage)
    front = TelemetryBackend(lambda: sink, log_attrs=lineage)
    prev = events.install(front)
    front.load_now()
    try:
        events.event("lone", i=0)
        wait_until(
            lambda: path.exists() and len(_complete_logs(path)) == 1,
            scaled(5),
            "the lone record on disk",
        )
        n = 50 * file_sink.LINE_RECORDS
        for i in range(n):
            events.event("burst", i=i)
        wait_until(lambda: len(_complete_logs(path)) == 1 + n, scaled(10), "the burst on disk")
        counts = [
            len(json.loads(line)["resourceLogs"][0]["scopeLogs"][0]["logRecords"])
            for line in path.read_bytes().splitlines()
        ]
        assert sum(counts) == 1 + n and max(counts) <= file_sink.LINE_RECORDS
        # right after a line the writer waits for the next one without being woken for
        # its first record: a record then is still written, within the linger
        events.event("after", i=0)
        wait_until(lambda: len(_complete_logs(path)) == 2 + n, scaled(5), "the record after a line")
    finally:
        front.shutdown(5.0)
        events.install(prev)


def _open_files() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own fd, gone by now
            pass
    return out


def test_resource_follows_the_otel_environment() -> None:
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,team=a%20b,bad",
        "OTEL_SERVICE_NAME": "svc",
    }
    attrs = file_sink.resource_attributes({"devx.actor.path": "root"}, env)
    assert attrs["deployment.environment"] == "ci" and attrs["team"] == "a b"
    assert attrs["service.name"] == "svc" and "bad" not in attrs
    assert file_sink.resource_attributes({"service.name": "mine"}, env)["service.name"] == "mine"
    unnamed = file_sink.resource_attributes({}, {})
    assert unnamed["service.name"].startswith("unknown_service:")


TREE = """
import sys, trio, devx, devx.core.events
{imports}

def loaded():
    devx.core.events.flush(10)  # telemetry (and its logging) is set up by now
    heavy = ("opentelemetry", "structlog")
    return sorted({{m.split(".")[0] for m in sys.modules if m.startswith(heavy)}})

async def main():
    async with devx.open_nursery() as an:
        portal = await an.start_actor("child", enable_modules=["__main__"])
        print("CHILD", " ".join(await portal.run(loaded)) or "-", flush=True)
        print("ROOT", " ".join(loaded()) or "-", flush=True)
        await portal.cancel_actor()

if __name__ == "__main__":
    trio.run(main)
"""


def _run_script(tmp_path: Path, source: str, **env: str) -> tuple[str, Path]:
    """``source`` as a script in a clean environment writing ``tmp_path``'s telemetry
    file; its stdout and that file."""
    script = tmp_path / "tree.py"
    script.write_text(source)
    trace = tmp_path / "t.otlp.jsonl"
    proc = run_clean(
        [sys.executable, str(script)],
        scaled(30),
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_RUNTIME_DIR=os.environ.get("DEVX_RUNTIME_DIR", str(tmp_path)),
        **env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, trace


def _run_tree(tmp_path: Path, imports: str = "", **env: str) -> tuple[dict[str, str], Path]:
    stdout, trace = _run_script(tmp_path, TREE.format(imports=imports), **env)
    return dict(line.split(" ", 1) for line in stdout.splitlines()), trace


def test_actors_writing_the_file_load_neither_the_sdk_nor_structlog(tmp_path: Path) -> None:
    out, trace = _run_tree(tmp_path)
    # asked after the telemetry of both actors loaded (the child's first call comes
    # after its boot; the root's answer after the child's)
    assert out == {"CHILD": "-", "ROOT": "-"}
    paths = {s["attributes"].get("devx.actor.path") for s in readback.load_spans(trace)}
    assert paths == {"root", "root/child"}


def test_code_using_the_otel_api_or_structlog_gets_them(tmp_path: Path) -> None:
    out, trace = _run_tree(
        tmp_path, imports="import structlog\nfrom opentelemetry import trace as otel_trace"
    )
    assert out["CHILD"] == "opentelemetry structlog" and out["ROOT"] == out["CHILD"]
    sdk = {s["resource"]["telemetry.sdk.name"] for s in readback.load_spans(trace)}
    assert sdk == {"opentelemetry"}


def test_devx_telemetry_sdk_forces_the_sdk(tmp_path: Path) -> None:
    out, trace = _run_tree(tmp_path, DEVX_TELEMETRY_SDK="1")
    assert "opentelemetry" in out["CHILD"].split() and "structlog" not in out["CHILD"]
    assert {s["resource"]["telemetry.sdk.name"] for s in readback.load_spans(trace)} == {
        "opentelemetry"
    }


def test_devx_telemetry_sdk_0_never_loads_it_for_the_file(tmp_path: Path) -> None:
    """README: ``DEVX_TELEMETRY_SDK=0`` never loads the SDK for the file, even in code
    that uses the OTel API: the file is devx's own writer's."""
    out, trace = _run_tree(
        tmp_path, imports="from opentelemetry import trace as otel_trace", DEVX_TELEMETRY_SDK="0"
    )
    assert "opentelemetry" in out["CHILD"].split()  # the API the code imported, only
    sdk = {s["resource"]["telemetry.sdk.name"] for s in readback.load_spans(trace)}
    assert sdk == {"devx"}
    paths = {s["attributes"].get("devx.actor.path") for s in readback.load_spans(trace)}
    assert paths == {"root", "root/child"}


def test_odd_values_never_cost_a_batch(tmp_path: Path) -> None:
    """Subclasses of the attribute types (an IntEnum, a float subclass as numpy's, a
    str subclass), a lone surrogate and a NaN: each written as its base value, and the
    other records of the same batch with them."""
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    class Ratio(float):
        pass

    class Tag(str):
        def __str__(self) -> str:
            return "not the content"

    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    sink = file_sink.FileSink(AppendFile(str(path)), resource_attrs=lineage, lineage=lineage)
    front = TelemetryBackend(lambda: sink, log_attrs=lineage)
    prev = events.install(front)
    front.load_now()
    try:
        with events.span("plain"):
            pass
        with events.span(
            "odd", level=Level.HIGH, ratio=Ratio(0.5), tag=Tag("t"), bad="\ud800", nan=float("nan")
        ):
            pass
        assert sink.flush(scaled(10))
    finally:
        front.shutdown(5.0)
        events.install(prev)
    spans = {s["name"]: s for s in readback.load_spans(path)}
    assert set(spans) == {"plain", "odd"}
    attrs = spans["odd"]["attributes"]
    assert attrs["level"] == 3 and attrs["ratio"] == 0.5 and attrs["tag"] == "t"
    assert attrs["bad"] == "\ud800" and attrs["nan"] != attrs["nan"]


def _limits_scenario() -> None:
    with events.span("big", **{f"a{i}": i for i in range(150)}) as h:
        h.set(a0="updated")  # an update of an evicted key comes back as the newest
        for i in range(140):
            h.event(f"e{i}", i=i)


def test_span_limits_are_the_sdks(tmp_path: Path) -> None:
    """Past 128 attributes or events, the file sink keeps what the SDK keeps and
    counts the rest as dropped, as the SDK does."""

    def big(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        (line,) = [ln for ln in path.read_text().splitlines() if '"big"' in ln]
        (span,) = [
            s
            for rs in json.loads(line)["resourceSpans"]
            for ss in rs["scopeSpans"]
            for s in ss["spans"]
            if s["name"] == "big"
        ]
        parsed = {s["name"]: s for s in readback.load_spans(path)}["big"]
        return span, parsed

    actor = fake_actor("froot")
    results = {}
    for build in ("sdk", "file_sink"):
        path = tmp_path / f"{build}.jsonl"
        _write_with(path, actor, build, scenario=_limits_scenario, twice=False)
        results[build] = big(path)
    (sdk_raw, sdk), (lite_raw, lite) = results["sdk"], results["file_sink"]
    assert lite_raw["droppedAttributesCount"] == sdk_raw["droppedAttributesCount"] > 0
    assert lite_raw["droppedEventsCount"] == sdk_raw["droppedEventsCount"] == 12
    assert (
        set(lite["attributes"]) == set(sdk["attributes"]) and lite["attributes"]["a0"] == "updated"
    )
    assert [e["name"] for e in lite["events"]] == [e["name"] for e in sdk["events"]]
    assert lite["events"][0]["name"] == "e12"


def test_a_forked_child_keeps_writing(tmp_path: Path) -> None:
    """os.fork() inside a process writing the file (a user's multiprocessing with the
    fork start method): the child's records land and its flush does not hang."""
    path = tmp_path / "t.jsonl"
    lineage = schema.lineage_attrs(fake_actor("froot").lineage)
    sink = file_sink.FileSink(AppendFile(str(path)), resource_attrs=lineage, lineage=lineage)
    front = TelemetryBackend(lambda: sink, log_attrs=lineage)
    prev = events.install(front)
    front.load_now()
    try:
        events.event("before-fork")
        assert sink.flush(scaled(10))
        pid = os.fork()
        if pid == 0:  # the child: record, flush, report by exit code
            code = 1
            try:
                events.event("in-child")
                code = 0 if sink.flush(5.0) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        events.event("parent-after")
        assert sink.flush(scaled(10))
    finally:
        front.shutdown(5.0)
        events.install(prev)
    names = [r["event_name"] for r in readback.load_logs(path)]
    assert sorted(names) == ["before-fork", "in-child", "parent-after"]


USER_SPANS = """
import sys, trio, devx
from opentelemetry import trace

tracer = trace.get_tracer("user.app")

def work():
    with tracer.start_as_current_span("user.in_child"):
        return 1

async def main():
    async with devx.open_nursery() as an:
        with tracer.start_as_current_span("user.early_root"):  # the root's first step
            pass
        portal = await an.start_actor("child", enable_modules=["__main__"])
        await portal.run(work)  # its first step: right after the child's boot
        await portal.cancel_actor()

if __name__ == "__main__":
    trio.run(main)
"""


def test_user_spans_from_the_first_step_land_under_the_actor(tmp_path: Path) -> None:
    """Code using the OTel API gets the SDK from its actor's first step: a span made
    at once (root or child) is in the file, under the actor's span."""
    _stdout, trace = _run_script(tmp_path, USER_SPANS)
    spans = readback.load_spans(trace)
    index = readback.by_id(spans)
    by_name = {s["name"]: s for s in spans}
    assert {"user.in_child", "user.early_root"} <= set(by_name), sorted(by_name)
    child = index[by_name["user.in_child"]["parent_span_id"]]
    assert child["name"] == "devx.actor"
    assert child["attributes"]["devx.actor.path"] == "root/child"
    root = index[by_name["user.early_root"]["parent_span_id"]]
    assert root["name"] == "devx.actor" and root["attributes"]["devx.actor.path"] == "root"


# --- an independent oracle: the SDK's own protobuf encoding ----------------------------


def _otlp_items(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Spans (``kind`` "Spans") or log records ("Logs") of OTLP export requests in
    protobuf's JSON mapping, each with its resource's attributes and scope's name."""
    out = []
    for doc in docs:
        for rs in doc.get(f"resource{kind}", []):
            resource = rs.get("resource", {}).get("attributes", [])
            for ss in rs.get(f"scope{kind}", []):
                key = "spans" if kind == "Spans" else "logRecords"
                for item in ss.get(key, []):
                    out.append({**item, "_resource": resource, "_scope": ss["scope"]["name"]})
    return out


def _normal(items: list[dict[str, Any]], kind: str, span_names: dict[str, str]) -> list[str]:
    """What must agree, as sorted JSON texts: everything but ids, times, flags and the
    SDK's identity (a span's parent by name, a record's span by whether it exists)."""

    def attrs(a: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[Any]:
        return sorted((x for x in a if x["key"] not in drop), key=lambda x: x["key"])

    out = []
    for it in items:
        d = {
            k: v
            for k, v in it.items()
            if k not in ("traceId", "spanId", "parentSpanId", "flags")
            and not k.endswith("UnixNano")
        }
        d["_resource"] = [
            x for x in attrs(it["_resource"]) if not x["key"].startswith("telemetry.sdk.")
        ]
        if kind == "Spans":
            d["attributes"] = attrs(it.get("attributes", []))
            d["status"] = it.get("status", {})  # absent or empty: both UNSET, no message
            d["_parent"] = span_names.get(it.get("parentSpanId", ""))
            d["events"] = [
                {"name": e["name"], "attributes": attrs(e.get("attributes", []))}
                for e in it.get("events", [])
            ]
            # a link's flags as a span's; its traceState the SDK's encoder leaves out
            # (devx keeps it: the field is in the proto; checked in the parity test)
            d["links"] = [
                {k: v for k, v in link.items() if k not in ("flags", "traceState")}
                for link in it.get("links", [])
            ]
        else:
            d["attributes"] = attrs(it.get("attributes", []), ("exception.stacktrace",))
            d["_in_span"] = it.get("spanId", "") in span_names if it.get("spanId") else None
        out.append(json.dumps(d, sort_keys=True))
    return sorted(out)


def test_the_file_sink_writes_what_the_sdks_protobuf_encoder_writes(tmp_path: Path) -> None:
    """Parity against an oracle devx did not write: the same scenario through the OTel
    SDK (in-memory exporters), encoded by the SDK's own OTLP protobuf encoder and
    turned into JSON by protobuf (MessageToDict), against the file sink's lines parsed
    into the OTLP proto types (which also checks each field's type)."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
        encode_spans,
    )
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from tel_support import front_with_memory
    from test_tel_file import _hex_ids_to_base64

    actor = fake_actor("froot")
    front, mem, prev = front_with_memory(actor)
    try:
        _scenario()  # recorded before the sink loads: replayed into it
        front.load_now()
        _scenario()
    finally:
        front.shutdown(5.0)
        events.install(prev)
    oracle_spans = json_format.MessageToDict(encode_spans(mem.spans.get_finished_spans()))
    oracle_logs = json_format.MessageToDict(encode_logs(mem.logs.get_finished_logs()))

    path = tmp_path / "lite.jsonl"
    lineage = schema.lineage_attrs(actor.lineage)
    resource = {
        **lineage,
        "service.instance.id": actor.lineage.uid.uuid,
        "service.name": actor.lineage.root_uid.name,
    }
    front = TelemetryBackend(
        lambda: file_sink.FileSink(AppendFile(str(path)), resource_attrs=resource, lineage=lineage),
        log_attrs=lineage,
    )
    prev = events.install(front)
    try:
        _scenario()
        front.load_now()
        _scenario()
    finally:
        front.shutdown(5.0)
        events.install(prev)
    span_docs, log_docs = [], []
    for line in path.read_text().splitlines():
        doc = json.dumps(_hex_ids_to_base64(json.loads(line)))
        if '"resourceSpans"' in doc:
            span_docs.append(
                json_format.MessageToDict(json_format.Parse(doc, ExportTraceServiceRequest()))
            )
        else:
            log_docs.append(
                json_format.MessageToDict(json_format.Parse(doc, ExportLogsServiceRequest()))
            )

    def compared(spans_docs: list[Any], logs_docs: list[Any]) -> tuple[list[str], list[str]]:
        spans = _otlp_items(spans_docs, "Spans")
        names = {s["spanId"]: s["name"] for s in spans}
        return _normal(spans, "Spans", names), _normal(
            _otlp_items(logs_docs, "Logs"), "Logs", names
        )

    want_spans, want_logs = compared([oracle_spans], [oracle_logs])
    got_spans, got_logs = compared(span_docs, log_docs)
    assert len(want_spans) == 8 and len(want_logs) >= 4, (want_spans, want_logs)
    assert got_spans == want_spans
    assert got_logs == want_logs


def _attrs_scenario() -> None:
    with events.span("plain", a=1, s="x"):
        pass
    handle = events.start_span("changed", a=1)
    handle.set(**{"devx.actor.name": "renamed", "b": 2})  # after start: a lineage key too
    handle.end()
    with events.span("named", **{"devx.actor.path": "mine", "z": 0}):  # the lineage wins
        pass


def test_span_attributes_read_back_in_order_with_the_lineage(tmp_path: Path) -> None:
    """The sink encodes an actor's lineage once and reuses it on every span: each span
    still carries its own attributes, then the lineage, then what was set after start
    (an update moves its key last), as recorded, whether the span was recorded before
    the sink loaded (replayed) or straight into it."""
    actor = fake_actor("froot")
    lineage = schema.lineage_attrs(actor.lineage)
    path = tmp_path / "lite.jsonl"
    _write_with(path, actor, "file_sink", scenario=_attrs_scenario)
    changed = {"a": 1, **lineage}
    del changed["devx.actor.name"]
    expected = {
        "plain": {"a": 1, "s": "x", **lineage},
        "changed": {**changed, "devx.actor.name": "renamed", "b": 2},
        "named": {"devx.actor.path": lineage["devx.actor.path"], "z": 0, **lineage},
    }
    raw = [
        span
        for line in path.read_text().splitlines()
        for rs in json.loads(line).get("resourceSpans", ())
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    assert sorted(s["name"] for s in raw) == sorted(2 * list(expected))
    for span in raw:
        keys = [kv["key"] for kv in span["attributes"]]
        assert keys == list(expected[span["name"]]), span["name"]
    parsed = readback.load_spans(path)
    assert len(parsed) == 6
    for s in parsed:
        assert s["attributes"] == expected[s["name"]], s["name"]
        assert list(s["attributes"]) == list(expected[s["name"]]), s["name"]


def test_spans_written_as_text_are_the_bytes_of_the_general_encoding(tmp_path: Path) -> None:
    """The writer builds a plain span's JSON text directly (FileSpan.encode_text): the
    line is byte for byte what encoding its record and dumps_line give, for awkward
    strings, ints of every size, bools, events with and without attributes, with and
    without a (remote) parent and the lineage folded in by a change after start; a span
    the direct way does not cover (a float, a status, links) says so and goes the
    general way."""
    from devx.telemetry import otlp_json
    from devx.telemetry.backend import Ids

    lineage = {**schema.lineage_attrs(fake_actor("froot").lineage), "x.flag": True}
    sink = file_sink.FileSink(
        AppendFile(str(tmp_path / "t.jsonl")), resource_attrs=lineage, lineage=lineage
    )
    sink.shutdown(1.0)  # its writer gone: spans are encoded here, by hand
    odd = ['q"uote', "back\\slash", "ctl\x01\n\t", "ünïcödé ☃ 𝄞", "", "</script>"]
    parents = [None, Ids(1, 2), Ids(3, 4, 1, None, True), Ids(2**127, 2**64 - 1, 0)]
    spans = []
    for i, parent in enumerate(parents):
        attrs: dict[str, Any] = {f"k{j}{odd[(i + j) % len(odd)]}": v for j, v in enumerate(odd)}
        key = odd[i]
        attrs.update({f"n{key}": i, f"neg{key}": -(10**i), f"big{key}": 2**70 + i, "zero": 0})
        attrs.update({f"yes{key}": True, "no": False})
        span = file_sink.FileSpan(sink, odd[i], Ids(2**100 + i, 2**60 + i), parent, attrs, 10**18)
        span.add_event(schema.CONTEXT_STARTED, {}, 10**18 + 1)
        span.add_event("ev" + odd[i], {"at": odd[i + 1], "i": i, "b": bool(i % 2)}, 10**18 + 2)
        if i % 2:
            span.set_attributes({"late": odd[i], "devx.actor.name": "renamed"})
        span.end(10**18 + 3)
        spans.append(span)
    for span in spans:
        text = span.encode_text()
        assert text is not None
        general = otlp_json.dumps_line({"x": [span.encode()]})
        assert general == b'{"x":[' + text.encode() + b"]}\n"
    resource, scope = sink._span_head
    whole = {"resourceSpans": [{"resource": resource, "scopeSpans": [{**scope, "spans": []}]}]}
    whole["resourceSpans"][0]["scopeSpans"][0]["spans"] = [s.encode() for s in spans]
    assert sink._span_line(spans) == otlp_json.dumps_line(whole)
    # what only the general way writes
    floated = file_sink.FileSpan(sink, "f", Ids(5, 6), None, {"ratio": 0.5}, 1)
    failed = file_sink.FileSpan(sink, "e", Ids(5, 7), None, {}, 1)
    sink.set_error(failed, "ValueError: x")
    linked = file_sink.FileSpan(sink, "l", Ids(5, 8), None, {}, 1, links=[(Ids(9, 9), {})])
    for span in (floated, failed, linked):
        span.end(2)
        assert span.encode_text() is None
        assert sink._span_line([spans[0], span]) is None


def test_log_records_written_as_text_are_the_bytes_of_the_general_encoding(
    tmp_path: Path,
) -> None:
    """The writer builds a line of plain log records from their JSON text (_log_text):
    byte for byte what encoding each record and dumps_line give, for awkward strings,
    ints of every size, bools, with and without a span, a body and an event name, at
    every severity; a record the direct way does not cover (a float attribute, a body
    that is not a str, a str subclass) says so and its line goes the general way."""
    from devx.telemetry import otlp_json
    from devx.telemetry.backend import Ids

    lineage = {**schema.lineage_attrs(fake_actor("froot").lineage), "x.flag": True}
    sink = file_sink.FileSink(
        AppendFile(str(tmp_path / "t.jsonl")), resource_attrs=lineage, lineage=lineage
    )
    sink.shutdown(1.0)  # its writer gone: records are encoded here, by hand
    odd = ['q"uote', "back\\slash", "ctl\x01\n\t", "ünïcödé ☃ 𝄞", "", "</script>"]
    spans = [None, Ids(1, 2), Ids(3, 4, 0, None, True), Ids(2**127, 2**64 - 1, 0x1FF), Ids(0, 5)]
    records = []
    for i, name in enumerate([*odd, None, "devx.actor.exit"]):
        attrs: dict[str, Any] = {f"k{j}{odd[(i + j) % len(odd)]}": v for j, v in enumerate(odd)}
        attrs.update({"n": i, "neg": -(10**i), "big": 2**70 + i, "zero": 0, "yes": True})
        body = [None, name, odd[(i + 1) % len(odd)]][i % 3]
        ids = spans[i % len(spans)]
        records.append(
            (name, attrs if i % 4 else {}, ids, 10**18 + i, i, [1, 9, 10, 24, 0][i % 5], body)
        )
    records.append((None, dict(lineage), None, 0, 0, 17, "plain line"))
    resource, scope = sink._span_head

    def general(recs: list[Any]) -> bytes:
        logs = [file_sink._log_record(*rec) for rec in recs]
        scope_logs = [{"scope": scope["scope"], "logRecords": logs}]
        return otlp_json.dumps_line(
            {"resourceLogs": [{"resource": resource, "scopeLogs": scope_logs}]}
        )

    for rec in records:
        assert sink._log_line([rec]) == general([rec])
    assert sink._log_line(records) == general(records)
    assert sink._encode([("log", rec) for rec in records]) == general(records)

    class Tag(str):
        pass

    uncovered = [
        (None, {"ratio": 0.5}, None, 1, 1, 9, None),
        ("e", {}, None, 1, 1, 9, 3),
        ("e", {"tag": Tag("t")}, None, 1, 1, 9, None),
    ]
    for rec in uncovered:
        assert file_sink._log_text(*rec) is None
        assert sink._log_line([records[0], rec]) is None
        line = sink._encode([("log", records[0]), ("log", rec)])
        assert line == general([records[0], rec])


UNDER_A_HANDLE = """
import trio, devx
from devx.core import events

async def main():
    async with devx.open_root_actor():
        assert events.wait_ready(30)  # the file sink is in: its spans are handed out
        hold = events.start_live_span("user.hold")  # (as a terminal hold's span)
        repl = events.start_span("user.repl", parent=hold)  # (as its REPL's span)
        repl.end()
        hold.end()
        mark = events.live_mark("user.mark")  # (as a call from another tree)
        with events.span("user.current"):
            events.enter_live_span("user.serve", (), mark).end()

if __name__ == "__main__":
    trio.run(main)
"""


def test_a_span_started_under_a_span_hangs_under_it(tmp_path: Path) -> None:
    """With the file sink loaded a span handle is the sink's span itself: a span
    started under one (a REPL under its hold, a served call under its mark) hangs
    under it, not under whatever span is current. Before: under the current span
    (the REPL's span was no child of its hold in the default file)."""
    _stdout, trace = _run_script(tmp_path, UNDER_A_HANDLE)
    by_name = {s["name"]: s for s in readback.load_spans(trace)}
    assert by_name["user.repl"]["parent_span_id"] == by_name["user.hold"]["span_id"]
    assert by_name["user.serve"]["parent_span_id"] == by_name["user.mark"]["span_id"]
