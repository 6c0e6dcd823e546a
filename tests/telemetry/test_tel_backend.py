"""The telemetry backend in one process, against the SDK's in-memory exporters."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trio
from tel_support import Memory, clean_env, fake_actor, front_with_memory

from conftest import captured_log, scaled
from devx.core import events, schema
from devx.telemetry import backend, boot, config
from devx.telemetry.backend import TelemetryBackend

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def restore_events():
    prev = events.backend()
    backend.reset_warnings()
    yield
    current = events.backend()
    if isinstance(current, TelemetryBackend):
        current.shutdown(1.0)
    events.install(prev)


def by_name(mem: Memory, name: str):
    spans = mem.finished(name)
    assert len(spans) == 1, [s.name for s in mem.finished()]
    return spans[0]


def test_spans_events_and_logs_with_lineage() -> None:
    actor = fake_actor("root")
    front, mem, _ = front_with_memory(actor)
    front.load_now()
    with events.span("outer", reason="pause") as outer:
        events.event("devx.tty_lock.requested", wait_s=0.25, reason="pause")
        with events.span("inner"):
            pass
        outer.set(held_s=1.5)
    o, i = by_name(mem, "outer"), by_name(mem, "inner")
    assert i.parent.span_id == o.context.span_id
    assert i.context.trace_id == o.context.trace_id
    for span in (o, i):
        assert span.attributes["devx.actor.path"] == "root"
        assert span.attributes["devx.actor.uid"] == str(actor.uid)
        assert span.attributes["process.pid"] == actor.pid
    assert o.attributes["held_s"] == 1.5 and o.attributes["reason"] == "pause"
    assert o.resource.attributes["service.name"] == "root"
    assert o.resource.attributes["service.instance.id"] == actor.uid.uuid
    (ev,) = o.events
    assert ev.name == "devx.tty_lock.requested" and ev.attributes["wait_s"] == 0.25
    (rec,) = mem.records("devx.tty_lock.requested")
    assert rec.trace_id == o.context.trace_id and rec.span_id == o.context.span_id
    assert rec.attributes["reason"] == "pause"


def test_escaping_exception_is_recorded_per_semconv() -> None:
    front, mem, _ = front_with_memory()
    front.load_now()
    with pytest.raises(ValueError), events.span("work"):
        raise ValueError("bad value")
    span = by_name(mem, "work")
    assert span.status.status_code.name == "ERROR"
    (ev,) = [e for e in span.events if e.name == "exception"]
    assert ev.attributes["exception.type"] == "ValueError"
    assert ev.attributes["exception.message"] == "bad value"
    assert "raise ValueError" in ev.attributes["exception.stacktrace"]
    (rec,) = mem.records("devx.crash")
    assert rec.severity_text == "ERROR" and rec.span_id == span.context.span_id
    assert rec.attributes["devx.actor.path"] == "root"


def test_cancellation_is_recorded_but_not_an_error() -> None:
    front, mem, _ = front_with_memory()
    front.load_now()

    async def main() -> None:
        with trio.CancelScope() as cs:
            with events.span("cancelled-work"):
                cs.cancel()
                await trio.sleep(1)

    trio.run(main)
    span = by_name(mem, "cancelled-work")
    assert span.status.status_code.name == "UNSET"
    assert [e.name for e in span.events] == ["exception"]
    assert not mem.records("devx.crash")


def test_remote_error_origin_is_recorded() -> None:
    from devx.runtime.errors import RemoteActorError
    from devx.runtime.msgs import ActorID, ErrorInfo

    info = ErrorInfo(
        type_name="builtins.KeyError",
        message="'k'",
        traceback="Traceback ...\nKeyError: 'k'\n",
        src_uid=ActorID("child", "c" * 32),
        src_path="root/child",
        src_pid=1234,
        relay_path=["root/child/x"],
    )
    attrs = backend.exception_attrs(ExceptionGroup("g", [RemoteActorError(info)]))
    assert attrs["exception.type"] == "devx.RemoteActorError"
    assert attrs["devx.remote.type"] == "builtins.KeyError"
    assert attrs["devx.remote.src_path"] == "root/child"
    assert attrs["devx.remote.relay_path"] == ("root/child/x",)


def test_buffered_spans_replay_with_their_ids_timestamps_and_parents() -> None:
    front, mem, _ = front_with_memory()
    t0 = time.time_ns()
    with events.span("early") as early:
        carrier = events.carrier()
        time.sleep(0.01)
        events.event("devx.tty_lock.requested", wait_s=0.01, reason="crash")
        held = events.start_span("devx.tty_lock.held", reason="crash")
        time.sleep(0.01)
        held.end()
        spanning = events.start_span("spans-the-load")
    t1 = time.time_ns()
    assert not mem.finished() and not front.loaded
    time.sleep(0.02)
    front.load_now()
    t_load = time.time_ns()
    spanning.event("after-load")
    spanning.end()

    e = by_name(mem, "early")
    h = by_name(mem, "devx.tty_lock.held")
    s = by_name(mem, "spans-the-load")
    tp = config.parse_carrier(carrier)
    assert tp is not None
    assert (e.context.trace_id, e.context.span_id) == (tp.trace_id, tp.span_id)
    assert early.ids.span_id == e.context.span_id
    assert t0 <= e.start_time < h.start_time < h.end_time <= e.end_time <= t1 < t_load
    assert h.end_time - h.start_time >= 9_000_000  # the real 10 ms hold, not replay time
    assert h.parent.span_id == e.context.span_id and s.parent.span_id == e.context.span_id
    assert s.start_time <= t1 < t_load <= s.end_time
    assert h.attributes["devx.actor.path"] == "root"  # lineage added at replay
    (ev,) = e.events
    assert e.start_time <= ev.timestamp <= e.end_time
    assert [x.name for x in s.events] == ["after-load"]
    (rec,) = mem.records("devx.tty_lock.requested")
    assert rec.timestamp == ev.timestamp and rec.span_id == e.context.span_id


def test_child_actor_span_continues_the_carrier() -> None:
    trace_id, span_id = 0x1234567890ABCDEF1234567890ABCDEF, 0x1122334455667788
    root = fake_actor("root")
    child = fake_actor(
        "child",
        root=root.uid,
        parent=root.uid,
        path="root/child",
        carrier={
            "traceparent": config.format_traceparent(trace_id, span_id, 1),
            "tracestate": "vendor=x",
        },
    )
    mem = Memory(child)
    session = boot.Session(child, sink_factory=mem.factory, env={}).start()
    assert events.carrier()["traceparent"].startswith(f"00-{trace_id:032x}-")
    session.close()
    span = by_name(mem, "devx.actor")
    assert span.context.trace_id == trace_id
    assert span.parent.span_id == span_id and span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "x"
    assert span.attributes["devx.actor.parent_uid"] == str(root.uid)
    assert span.attributes["devx.actor.outcome"] == "ok"
    assert not mem.finished("devx.tree")  # only the root opens the tree span


def test_spans_left_open_are_ended_at_actor_exit() -> None:
    actor = fake_actor("oroot")
    mem = Memory(actor)
    session = boot.Session(actor, sink_factory=mem.factory, env={}).start()
    held = events.start_span("devx.tty_lock.held", reason="crash")
    held.event("devx.repl.entered")
    session.close(RuntimeError("died while holding the lock"))
    span = by_name(mem, "devx.tty_lock.held")
    actor_span = by_name(mem, "devx.actor")
    assert span.attributes["devx.span.unfinished"] is True
    assert span.end_time <= actor_span.end_time
    assert actor_span.attributes["devx.actor.outcome"] == "error"
    assert actor_span.status.status_code.name == "ERROR"
    assert "devx.span.unfinished" not in actor_span.attributes
    assert by_name(mem, "devx.tree").attributes["devx.tree.outcome"] == "error"


def test_trio_tasks_and_bare_threads_inherit_the_actor_span() -> None:
    actor = fake_actor("troot")
    mem = Memory(actor)

    async def main() -> None:
        session = boot.Session(actor, sink_factory=mem.factory, env={}).start()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: _emit("from-task"))
            thread = threading.Thread(target=events.event, args=("from-thread",))
            thread.start()
            thread.join()
            await trio.to_thread.run_sync(events.event, "from-to-thread")
        finally:
            session.close()

    trio.run(main)
    actor_span = by_name(mem, "devx.actor")
    tree = by_name(mem, "devx.tree")
    assert actor_span.parent.span_id == tree.context.span_id
    names = [e.name for e in actor_span.events]
    assert {"from-task", "from-thread", "from-to-thread"} <= set(names)


async def _emit(name: str) -> None:
    await trio.sleep(0)
    events.event(name)


USER_INSTRUMENTATION = """
from opentelemetry import trace
from tel_support import front_with_memory
from devx.telemetry import otel
from devx.core import events

front, mem, _ = front_with_memory(set_global=True)
assert isinstance(trace.get_tracer_provider(), otel._BridgeProvider)
user_tracer = trace.get_tracer("user.lib")
with events.span("devx-op"):
    front.load_now()  # the span was born pending, the user span after the load
    with user_tracer.start_as_current_span("user-op"):
        events.event("inside-user-span")
(d,), (u,) = mem.finished("devx-op"), mem.finished("user-op")
assert u.parent.span_id == d.context.span_id, (u.parent, d.context)
assert u.attributes["devx.actor.path"] == "root", u.attributes  # lineage on user spans too
assert [e.name for e in u.events] == ["inside-user-span"], u.events
front.shutdown(1.0)
print("ok")
"""


def test_user_instrumentation_nests_under_devx_spans() -> None:
    """In a process of its own: OpenTelemetry takes one global TracerProvider per
    process, and an earlier test of this one may have set it."""
    out = subprocess.run(
        [sys.executable, "-c", USER_INSTRUMENTATION],
        cwd=Path(__file__).parent,
        env=clean_env(PYTHONPATH=str(Path(__file__).parent)),
        capture_output=True,
        text=True,
        timeout=scaled(10),
    )
    assert out.returncode == 0 and out.stdout == "ok\n", out.stdout + out.stderr


@pytest.fixture
def tel_warnings():
    """Warnings of devx.telemetry, whatever handlers the devx logger has."""
    with captured_log("devx.telemetry") as messages:
        yield messages


def test_flush_is_bounded_when_the_exporter_hangs(tel_warnings: list[str]) -> None:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from devx.telemetry import otel

    release = threading.Event()

    class Stuck(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            release.wait(60)  # far beyond the bounds below
            return SpanExportResult.SUCCESS

    actor = fake_actor()
    lineage = schema.lineage_attrs(actor.lineage)
    sink = otel.OtelSink(
        resource_attrs=lineage,
        lineage=lineage,
        span_exporters=[("stuck", Stuck())],
        set_global=False,
    )
    front = TelemetryBackend(lambda: sink)
    events.install(front)
    front.load_now()
    with events.span("x"):
        pass
    t0 = time.monotonic()
    events.flush(0.3)
    events.flush(0.3)
    assert time.monotonic() - t0 < 0.6 + scaled(0.5)  # the two bounds, then some
    t0 = time.monotonic()
    front.shutdown(0.5)
    assert time.monotonic() - t0 < 0.5 + scaled(0.5)
    warnings = [m for m in tel_warnings if "did not finish" in m]
    assert len(warnings) == 1  # a failing collector is said once (the flush said it)
    release.set()


def test_exit_is_bounded_when_the_sdk_never_loads(capsys: pytest.CaptureFixture[str]) -> None:
    actor = fake_actor()
    gate = threading.Event()

    def slow_factory():  # type: ignore[no-untyped-def]
        gate.wait(60)  # far beyond the bound below
        raise RuntimeError("never")

    session = boot.Session(
        actor, sink_factory=slow_factory, env={"DEVX_TELEMETRY_EXIT_TIMEOUT": "0.5"}
    ).start()
    events.event("something")
    t0 = time.monotonic()
    session.close()
    assert time.monotonic() - t0 < 0.5 + scaled(0.5)
    # the warning is a JSON log line on stderr (the devx logger is ours while telemetry is on)
    err = capsys.readouterr().err
    assert err.count("did not start") == 1 and '"level": "warning"' in err
    assert isinstance(events.backend(), events.NullBackend)
    gate.set()


def test_sdk_disabled_installs_nothing() -> None:
    actor = fake_actor()
    session = boot.Session(actor, env={"OTEL_SDK_DISABLED": "true"}).start()
    assert not session.settings.enabled and session.backend is None
    assert not events.enabled()
    with events.span("nothing") as h:
        h.event("x")
    assert events.carrier() == {}
    session.close()
