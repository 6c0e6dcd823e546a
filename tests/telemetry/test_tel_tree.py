"""Telemetry across real actor processes, read back from the embedded file."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tel_support import clean_env

from conftest import scaled
from devx.core import schema
from devx.debug.stack import registry as reg
from devx.telemetry import readback, retention

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent


def run_scenario(
    name: str, tmp_path: Path, **env: str | None
) -> tuple[subprocess.CompletedProcess, Path]:
    """``tel_tree.py <name>`` with its own empty TMPDIR (``tmp_path / "tmp"``): where
    the default telemetry file would go, so a test can tell nothing was written. A
    variable given as None is unset."""
    path = tmp_path / "tree.otlp.jsonl"
    tmp = tmp_path / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    full_env: dict[str, str | None] = {
        **clean_env(DEVX_TELEMETRY_FILE=str(path), TMPDIR=str(tmp)),
        **env,
    }
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = subprocess.run(
        [sys.executable, str(HERE / "tel_tree.py"), name],
        cwd=HERE,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    return proc, path


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def one(spans: list[dict], name: str, path: str) -> dict:
    found = [s for s in spans if s["name"] == name and s["attributes"]["devx.actor.path"] == path]
    assert len(found) == 1, (name, path, [(s["name"], s["attributes"]) for s in spans])
    return found[0]


def test_one_trace_root_child_grandchild(tmp_path: Path) -> None:
    proc, path = run_scenario("tree", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "root: tree done\n"
    assert f"devx: telemetry written to {path}" in proc.stderr
    spans = readback.load_spans(path)
    logs = readback.load_logs(path)

    assert len({s["trace_id"] for s in spans} | {r["trace_id"] for r in logs}) == 1
    tree = one(spans, "devx.tree", "troot")
    root = one(spans, "devx.actor", "troot")
    child = one(spans, "devx.actor", "troot/child")
    grandchild = one(spans, "devx.actor", "troot/child/grandchild")
    start = one(spans, "devx.tree.start", "troot")
    assert start["parent_span_id"] is None  # the trace's root, exported at boot
    assert tree["parent_span_id"] == start["span_id"]
    assert root["parent_span_id"] == tree["span_id"] and root["parent_is_remote"] is False
    assert child["parent_span_id"] == root["span_id"] and child["parent_is_remote"] is True
    assert grandchild["parent_span_id"] == child["span_id"]
    assert grandchild["parent_is_remote"] is True
    # the live skeleton: each actor's start under its parent's start
    starts = [one(spans, "devx.actor.start", p) for p in ("troot", "troot/child")]
    starts.append(one(spans, "devx.actor.start", "troot/child/grandchild"))
    parents = [start, *starts[:-1]]
    assert [s["parent_span_id"] for s in starts] == [p["span_id"] for p in parents]

    # lineage on every span and on each process's resource
    pids = set()
    for s in spans:
        attrs, res = s["attributes"], s["resource"]
        for key in ("devx.actor.name", "devx.actor.uid", "devx.actor.root_uid", "devx.actor.path"):
            assert attrs[key] == res[key], key
        assert attrs["process.pid"] == res["process.pid"]
        assert res["service.name"] == attrs["devx.actor.path"]  # one service per actor
        assert res["service.namespace"] == "troot"
        assert res["service.instance.id"].startswith(attrs["devx.actor.uid"].split("@")[1])
        pids.add(res["process.pid"])
    assert len(pids) == 3
    assert (
        grandchild["attributes"]["devx.actor.parent_uid"] == child["attributes"]["devx.actor.uid"]
    )
    assert grandchild["attributes"]["devx.actor.root_uid"] == root["attributes"]["devx.actor.uid"]

    # the event raised inside the grandchild's call sits on the grandchild's span
    assert "test.leaf" in [e["name"] for e in grandchild["events"]]
    # spawn/exit recorded by the parents
    assert {"devx.actor.spawn", "devx.actor.exit"} <= {e["name"] for e in root["events"]}
    assert {"devx.actor.spawn", "devx.actor.exit"} <= {e["name"] for e in child["events"]}
    # the same point events are log records carrying their span's context
    leaf_log = next(r for r in logs if r["event_name"] == "test.leaf")
    assert leaf_log["span_id"] == grandchild["span_id"]
    assert leaf_log["attributes"]["x"] == 21
    for s in spans:
        assert s["start_ns"] <= s["end_ns"]


def test_a_record_of_a_child_that_lives_on_reaches_the_file_without_a_flush(
    tmp_path: Path,
) -> None:
    """A child's file writer starts a little after the child reported ready (one that
    ends sooner writes what it recorded at its exit, no writer thread started): a
    record made right after its start by a child that lives on reaches the file while
    it lives, with no flush asked."""
    proc, path = run_scenario("early", tmp_path, TEL_WITHIN=str(scaled(10)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "root: written while alive: True\n", proc.stdout + proc.stderr
    (rec,) = [r for r in readback.load_logs(path) if r["event_name"] == "test.early"]
    assert rec["resource"]["devx.actor.path"] == "eroot/child"


def test_crash_in_child_and_remote_error_in_parent(tmp_path: Path) -> None:
    proc, path = run_scenario("crash", tmp_path)
    assert proc.returncode != 0
    assert "ZeroDivisionError" in proc.stderr
    spans = readback.load_spans(path)
    logs = readback.load_logs(path)
    child = one(spans, "devx.actor", "croot/child")
    root = one(spans, "devx.actor", "croot")

    exc_ev = next(e for e in child["events"] if e["name"] == "exception")
    assert exc_ev["attributes"]["exception.type"] == "ZeroDivisionError"
    assert exc_ev["attributes"]["exception.message"] == "boom in the child"
    assert "boom in the child" in exc_ev["attributes"]["exception.stacktrace"]
    assert exc_ev["attributes"]["devx.actor.path"] == "croot/child"

    remote_ev = next(e for e in root["events"] if e["name"] == "exception")
    assert remote_ev["attributes"]["exception.type"].endswith("RemoteActorError")
    assert remote_ev["attributes"]["devx.remote.type"] == "builtins.ZeroDivisionError"
    assert remote_ev["attributes"]["devx.remote.src_path"] == "croot/child"
    assert root["status_code"] == 2  # ERROR

    crash = next(r for r in logs if r["event_name"] == "devx.crash")
    assert crash["resource"]["devx.actor.path"] == "croot/child"
    assert crash["span_id"] == child["span_id"] and crash["severity_text"] == "ERROR"
    assert crash["attributes"]["exception.type"] == "ZeroDivisionError"
    remote = next(r for r in logs if r["event_name"] == "devx.remote_error")
    assert remote["resource"]["devx.actor.path"] == "croot"


def test_sigkilled_child_keeps_its_synchronous_records(tmp_path: Path) -> None:
    """README: a stack dump is flushed before its handler returns, so it survives the
    SIGKILL that often follows. A real SIGUSR1 dump, the kill right after it."""
    proc, path = run_scenario("sigkill", tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = re.fullmatch(
        r"root: actor 'kroot/victim' \(pid (\d+)\) was killed by SIGKILL \(exit code -9\)\n",
        proc.stdout,
    )
    assert m, proc.stdout + proc.stderr
    with contextlib.suppress(FileNotFoundError):  # the dump's fixed /tmp path
        os.unlink(reg.log_path(int(m.group(1))))
    logs = readback.load_logs(path)
    dump = [r for r in logs if r["event_name"] == "devx.stack_dump"]
    assert len(dump) == 1, proc.stderr
    assert dump[0]["resource"]["devx.actor.path"] == "kroot/victim"
    attrs = dump[0]["attributes"]
    assert attrs["signal"] == "SIGUSR1" and attrs["task_count"] > 0, attrs
    assert f"{reg.BEGIN_MARKER}: kroot/victim" in attrs["dump"]
    assert "in dump_then_die" in attrs["dump"]  # the task that asked, where it waits
    spans = readback.load_spans(path)
    root = one(spans, "devx.actor", "kroot")
    exits = [e for e in root["events"] if e["name"] == "devx.actor.exit"]
    assert exits and exits[0]["attributes"][schema.CHILD_SIGNAL] == "SIGKILL"
    assert dump[0]["trace_id"] == root["trace_id"]


def test_sigterm_to_a_child_still_flushes_its_spans(tmp_path: Path) -> None:
    proc, path = run_scenario("sigterm", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(
        r"root: tel_fns.span_then_wait in actor 'troot/termed' was cancelled: SIGTERM\n"
        r"root: actor 'troot/termed' \(pid \d+\) exited with code 143 \(its end on a SIGTERM\)\n"
        r"root: tree done\n",
        proc.stdout,
    ), proc.stdout + proc.stderr
    spans = readback.load_spans(path)
    names = {(s["name"], s["attributes"].get("devx.actor.path")) for s in spans}
    assert ("test.before_sigterm", "troot/termed") in names, proc.stderr
    termed = one(spans, "devx.actor", "troot/termed")
    assert termed["attributes"]["devx.actor.cancel_reason"] == "SIGTERM"
    root = one(spans, "devx.actor", "troot")
    assert termed["trace_id"] == root["trace_id"]


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_SDK_DISABLED": "true"},  # the configured file is not written either
        {"DEVX_TELEMETRY_FILE": "off"},
        {"DEVX_TELEMETRY_FILE": None},  # unset: the default file, in TMPDIR
    ],
    ids=["sdk-disabled", "off", "default"],
)
def test_telemetry_off_writes_no_file(tmp_path: Path, env: dict[str, str | None]) -> None:
    proc, _ = run_scenario("tree", tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "root: tree done\n"
    written = files_under(tmp_path)
    if env == {"DEVX_TELEMETRY_FILE": None}:  # the control: telemetry on, the default file
        (default,) = [p for p in written if p.name != retention.STAMP]
        assert default.parent == tmp_path / "tmp" / f"devx-telemetry-{os.getuid()}"
        # a clean run into the default file says nothing (test_tel_retention.py)
        assert "telemetry written" not in proc.stderr
        assert {s["name"] for s in readback.load_spans(default)} >= {"devx.tree", "devx.actor"}
    else:
        assert written == [], written
        assert "telemetry written" not in proc.stderr


def test_traceparent_in_the_roots_environment_joins_an_outer_trace(tmp_path: Path) -> None:
    """A tree started by something already traced (TRACEPARENT in the environment,
    the OTel env carrier) continues that trace: its start span is a child of the
    outer span, and every actor below keeps its own parent."""
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    proc, path = run_scenario("tree", tmp_path, TRACEPARENT=f"00-{trace_id}-{span_id}-01")
    assert proc.returncode == 0, proc.stderr
    spans = readback.load_spans(path)
    logs = readback.load_logs(path)
    assert {s["trace_id"] for s in spans} | {r["trace_id"] for r in logs} == {trace_id}
    start = one(spans, "devx.tree.start", "troot")
    assert start["parent_span_id"] == span_id and start["parent_is_remote"] is True
    tree = one(spans, "devx.tree", "troot")
    assert tree["parent_span_id"] == start["span_id"]
    root = one(spans, "devx.actor", "troot")
    child = one(spans, "devx.actor", "troot/child")
    grandchild = one(spans, "devx.actor", "troot/child/grandchild")
    assert root["parent_span_id"] == tree["span_id"]
    assert child["parent_span_id"] == root["span_id"]
    assert grandchild["parent_span_id"] == child["span_id"]
