"""structlog JSON logs with trace context and lineage."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tel_support import fake_actor, front_with_memory

from devx.telemetry import config, events
from devx.telemetry.backend import TelemetryBackend
from devx.telemetry.logs import LogSetup

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def runtime_handler():
    """The devx logger as the runtime leaves it: its own flagged stderr handler."""
    lg = logging.getLogger("devx")
    saved = (list(lg.handlers), lg.level, lg.propagate)
    for h in list(lg.handlers):
        lg.removeHandler(h)
    handler = logging.StreamHandler()
    handler._devx_runtime_handler = True  # type: ignore[attr-defined]
    lg.addHandler(handler)
    lg.propagate = False
    yield handler
    for h in list(lg.handlers):
        lg.removeHandler(h)
    for h in saved[0]:
        lg.addHandler(h)
    lg.setLevel(saved[1])
    lg.propagate = saved[2]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_json_logs_carry_trace_context_and_lineage(tmp_path: Path, runtime_handler) -> None:
    import structlog

    actor = fake_actor("lroot")
    lineage = config.lineage_attrs(actor.lineage)
    front, _mem, prev = front_with_memory(actor)
    path = tmp_path / "log.jsonl"
    setup = LogSetup(lineage, logging.INFO, str(path))
    setup.install_early()
    assert runtime_handler not in logging.getLogger("devx").handlers
    try:
        with events.span("early") as early:
            logging.getLogger("devx.runtime").info("before structlog: %s", "buffered")
        setup.finish()  # what the loader thread does once the SDK is in
        front.load_now()
        with events.span("late") as late:
            logging.getLogger("devx.runtime.ipc").warning("after: %d", 2)
            logging.getLogger("devx.runtime").debug("below the level")
            structlog.get_logger("app").info("from structlog", k=1)
    finally:
        setup.close()
        front.shutdown(1.0)
        events.install(prev)

    out = lines(path)
    assert [d["event"] for d in out] == ["before structlog: buffered", "after: 2", "from structlog"]
    first, second, third = out
    assert first["trace_id"] == f"{early.ids.trace_id:032x}"
    assert first["span_id"] == f"{early.ids.span_id:016x}"  # stamped when logged, not when written
    assert second["span_id"] == third["span_id"] == f"{late.ids.span_id:016x}"
    assert first["logger"] == "devx.runtime" and first["level"] == "info"
    assert second["level"] == "warning" and third["k"] == 1
    for d in out:
        assert d["devx.actor.path"] == "lroot" and d["devx.actor.uid"] == str(actor.uid)
        assert d["process.pid"] == actor.pid and "timestamp" in d
    # restored afterwards
    assert runtime_handler in logging.getLogger("devx").handlers
    assert not [
        h for h in logging.getLogger("devx").handlers if hasattr(h, "_devx_telemetry_handler")
    ]
    assert not structlog.is_configured()


def test_application_owned_devx_logger_is_left_alone(runtime_handler) -> None:
    lg = logging.getLogger("devx")
    mine = logging.NullHandler()
    lg.addHandler(mine)
    setup = LogSetup({}, logging.DEBUG, None)
    setup.install_early()
    setup.finish()
    assert setup.app_owned and mine in lg.handlers and runtime_handler in lg.handlers
    setup.close()
    lg.removeHandler(mine)


def test_no_trace_ids_when_telemetry_is_off(tmp_path: Path, runtime_handler) -> None:
    assert not isinstance(events.backend(), TelemetryBackend)
    path = tmp_path / "off.jsonl"
    setup = LogSetup({"devx.actor.path": "x"}, logging.INFO, str(path))
    setup.install_early()
    setup.finish()
    logging.getLogger("devx.runtime").info("plain")
    setup.close()
    (d,) = lines(path)
    assert d["event"] == "plain" and "trace_id" not in d and d["devx.actor.path"] == "x"
