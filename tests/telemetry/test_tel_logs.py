"""structlog JSON logs with trace context and lineage."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tel_support import fake_actor, front_with_memory

from devx.core import events, schema
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
    lineage = schema.lineage_attrs(actor.lineage)
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


@pytest.mark.parametrize("telemetry", ["off", "on"])
def test_one_json_line_shape_with_telemetry_on_or_off(tmp_path: Path, telemetry: str) -> None:
    """Every actor's JSON log line has the same keys whether telemetry is on or off:
    the full lineage (the root without a parent uid) and a microsecond UTC time
    (plus trace and span ids when logged inside a span, telemetry on)."""
    import re
    import sys

    from tel_support import run_clean

    from conftest import scaled

    script = Path(__file__).resolve().parent.parent / "scripts" / "log_shape_tree.py"
    proc = run_clean(
        [sys.executable, str(script)],
        scaled(30),
        DEVX_LOG_FORMAT="json",
        DEVX_TELEMETRY_FILE=str(tmp_path / "t.jsonl") if telemetry == "on" else "off",
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    said = {d["devx.actor.path"]: d for d in docs if d["event"].startswith("hello from")}
    assert set(said) == {"logroot", "logroot/kid"}, proc.stderr
    lineage = {
        "devx.actor.name",
        "devx.actor.uid",
        "devx.actor.root_uid",
        "devx.actor.path",
        "process.pid",
        "process.parent_pid",
    }
    base = {"event", "level", "logger", "timestamp"} | lineage
    ids = {"trace_id", "span_id"}
    assert set(said["logroot"]) - ids == base
    assert set(said["logroot/kid"]) - ids == base | {"devx.actor.parent_uid"}
    assert said["logroot/kid"]["devx.actor.parent_uid"] == said["logroot"]["devx.actor.uid"]
    for d in said.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["timestamp"]), d


def test_every_json_log_line_of_a_tree_carries_its_trace_id(tmp_path: Path) -> None:
    """Grepping a tree's JSON logs by its trace id finds every line of it, the runtime's
    own and the user's, in the root and the child: without structlog only the lines
    logged before the final handler was up were stamped (1 of 7 in this tree)."""
    import sys

    from tel_support import run_clean

    from conftest import scaled
    from devx.telemetry import readback

    script = Path(__file__).resolve().parent.parent / "scripts" / "log_shape_tree.py"
    log_file, tel_file = tmp_path / "devx.log.jsonl", tmp_path / "t.jsonl"
    proc = run_clean(
        [sys.executable, str(script)],
        scaled(30),
        DEVX_LOG_FILE=str(log_file),
        DEVX_LOG_LEVEL="debug",
        DEVX_TELEMETRY_FILE=str(tel_file),
    )
    assert proc.returncode == 0, proc.stderr
    (trace,) = {s["trace_id"] for s in readback.load_spans(tel_file)}
    docs = lines(log_file)
    said = {d["devx.actor.path"] for d in docs if d["event"].startswith("hello from")}
    assert said == {"logroot", "logroot/kid"}
    assert len(docs) >= 4, docs
    unstamped = [d["event"] for d in docs if d.get("trace_id") != trace or not d.get("span_id")]
    assert not unstamped, f"lines without the tree's trace id {trace}: {unstamped}"


@pytest.mark.parametrize(
    "mode, load_delay",
    [
        # the sink loads late: the first call comes before it (as on a loaded box)
        ("plain", "2"),
        # a debug tree's child imports its modules after its telemetry started (a
        # module's top-level breakpoint() is the tree's REPL): with the default file
        # the sink, and the logs, were finished by then, structlog unused, and every
        # line of the child's code was structlog's default line on stdout, in no log
        # file, without the ids (a service's workers could not be grepped by trace)
        ("debug", None),
    ],
)
def test_structlog_lines_of_the_users_code_are_not_filtered_by_devx_level(
    tmp_path: Path, mode: str, load_delay: str | None
) -> None:
    """devx configures structlog for code that uses it, so that its lines carry the
    trace ids and lineage: it must not drop them. They were filtered at devx's own
    log level (WARNING unless set): a child's ``log.info(...)`` vanished once the
    telemetry was up, and printed while it was off."""
    import sys

    from tel_support import run_clean

    from conftest import scaled

    script = Path(__file__).resolve().parent.parent / "scripts" / "structlog_tree.py"
    log_file = tmp_path / "devx.log.jsonl"
    delay = {} if load_delay is None else {"DEVX_TELEMETRY_LOAD_DELAY": load_delay}
    proc = run_clean(
        [sys.executable, str(script), mode],
        scaled(60),
        DEVX_LOG_FILE=str(log_file),
        DEVX_TELEMETRY_FILE=str(tmp_path / "t.jsonl"),
        **delay,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CONFIGURED True" in proc.stdout, proc.stdout + proc.stderr
    docs = {d["event"]: d for d in lines(log_file) if d.get("devx.actor.path") == "slroot/kid"}
    assert {"user info", "user debug"} <= set(docs), docs
    assert docs["user info"]["order"] == 42 and docs["user info"]["level"] == "info"
    assert docs["user info"].get("trace_id"), docs["user info"]
    # the child's first call logs before anything else: structlog is configured by
    # then (the module that imports it loads before the actor's telemetry starts), so
    # that line is in the file with the ids, not structlog's default line on stdout
    assert "AT ONCE True" in proc.stdout, proc.stdout + proc.stderr
    assert docs["first call"]["order"] == 41 and docs["first call"].get("trace_id"), docs


def test_a_log_file_that_cannot_be_written_is_said_once(tmp_path: Path) -> None:
    """DEVX_LOG_FILE under a path that is no directory: every record was a
    '--- Logging error ---' traceback in every actor (nothing at all at the default
    level). Now the root says so in one line and the logs go to stderr."""
    import sys

    from tel_support import run_clean

    from conftest import scaled

    (tmp_path / "afile").write_text("")
    bad = tmp_path / "afile" / "devx.log.jsonl"
    script = Path(__file__).resolve().parent.parent / "scripts" / "log_shape_tree.py"
    proc = run_clean(
        [sys.executable, str(script)],
        scaled(30),
        DEVX_LOG_FILE=str(bad),
        DEVX_LOG_LEVEL="debug",
        DEVX_TELEMETRY_FILE=str(tmp_path / "t.jsonl"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Logging error" not in proc.stderr, proc.stderr
    said = [line for line in proc.stderr.splitlines() if line.startswith("devx: DEVX_LOG_FILE=")]
    assert said == [
        f"devx: DEVX_LOG_FILE={bad}: cannot write it (Not a directory): devx's logs go to stderr"
    ], proc.stderr
    said_hello = {
        json.loads(x)["devx.actor.path"]
        for x in proc.stderr.splitlines()
        if x.startswith("{") and "hello from" in x
    }
    assert said_hello == {"logroot", "logroot/kid"}, proc.stderr
