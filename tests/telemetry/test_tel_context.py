"""A ``devx.context`` span per context on each side, read back from the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tel_support import clean_env

from conftest import scaled
from devx.core import schema
from devx.telemetry import readback

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent


def test_context_spans_on_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "tree.otlp.jsonl"
    proc = subprocess.run(
        [sys.executable, str(HERE / "tel_context.py")],
        cwd=HERE,
        env=clean_env(DEVX_TELEMETRY_FILE=str(path), TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "result: done" in proc.stdout
    spans = [s for s in readback.load_spans(path) if s["name"] == schema.CONTEXT_SPAN]
    assert len({s["trace_id"] for s in spans}) == 1
    by = {}
    for s in spans:
        a = s["attributes"]
        by[
            (
                a[schema.CONTEXT_FUNC].rpartition(".")[2],
                a[schema.CONTEXT_SIDE],
                a[schema.CONTEXT_CID],
            )
        ] = s
    (echo_cid,) = {cid for (fn, _, cid) in by if fn == "echo"}
    caller, callee = by[("echo", "caller", echo_cid)], by[("echo", "callee", echo_cid)]
    # both lineages, each naming the other side
    assert caller["attributes"]["devx.actor.path"] == "root"
    assert callee["attributes"]["devx.actor.path"] == "root/worker"
    assert caller["attributes"][schema.CONTEXT_PEER_UID] == callee["attributes"]["devx.actor.uid"]
    assert callee["attributes"][schema.CONTEXT_PEER_UID] == caller["attributes"]["devx.actor.uid"]
    steps = (schema.CONTEXT_STARTED, schema.CONTEXT_STREAM_OPENED, schema.CONTEXT_RESULT)
    for s in (caller, callee):
        names = [e["name"] for e in s["events"]]
        for ev in steps:
            assert ev in names, (s["attributes"][schema.CONTEXT_SIDE], names)
    # the steps are on the span only, not log records of their own (each record cost
    # each side of every context a write); a cancel is a log record as well
    log_names = [r["event_name"] for r in readback.load_logs(path)]
    assert not set(steps) & set(log_names), log_names
    assert schema.CONTEXT_CANCEL in log_names
    # and `devx timeline` still lists them, from the span events, for both actors
    shown = subprocess.run(
        [sys.executable, "-m", "devx.cli", "timeline", str(path), "--color", "never"],
        env=clean_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for actor in ("root", "root/worker"):
        for ev in steps:
            assert any(line.split()[1:3] == [actor, ev] for line in lines), (actor, ev, lines)
    # the cancels: by the caller's ctx.cancel(), then by a third party (an.cancel())
    cancels = [
        (s["attributes"][schema.CONTEXT_SIDE], e["attributes"][schema.CONTEXT_CANCELLER])
        for s in spans
        for e in s["events"]
        if e["name"] == schema.CONTEXT_CANCEL
    ]
    root_uid = caller["attributes"]["devx.actor.uid"]
    assert ("caller", root_uid) in cancels
    assert cancels.count(("caller", root_uid)) == 2, cancels  # ctx.cancel(), then an.cancel()
    assert f"cancelled by {root_uid}" in proc.stdout


def test_a_tree_of_many_contexts_keeps_its_timeline_readable(tmp_path: Path) -> None:
    """15 contexts (90 started/stream/result events over both actors): `devx timeline`
    counts them in one line per actor, where it listed every one (a tree serving a
    context per request buried its crashes under thousands); `--contexts` lists them."""
    path = tmp_path / "tree.otlp.jsonl"
    proc = subprocess.run(
        [sys.executable, str(HERE / "tel_many_contexts.py"), "15"],
        cwd=HERE,
        env=clean_env(DEVX_TELEMETRY_FILE=str(path), TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert proc.returncode == 0 and "opened 15" in proc.stdout, proc.stdout + proc.stderr

    def timeline(*args: str) -> list[str]:
        shown = subprocess.run(
            [sys.executable, "-m", "devx.cli", "timeline", str(path), "--width", "0", *args],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
        assert shown.returncode == 0, shown.stderr
        return shown.stdout.splitlines()

    steps = (schema.CONTEXT_STARTED, schema.CONTEXT_STREAM_OPENED, schema.CONTEXT_RESULT)
    lines = timeline()
    counted = [ln.split(None, 3) for ln in lines if ln.split()[2:3] == ["contexts"]]
    assert sorted(c[1] for c in counted) == ["root", "root/worker"], lines
    for c in counted:
        assert c[3] == "15 started, 15 streams, 15 results (--contexts lists each)", c
    assert not [ln for ln in lines if any(step in ln for step in steps)], lines
    listed = [ln for ln in timeline("--contexts") if ln.split()[2:3] in ([s] for s in steps)]
    assert len(listed) == 90, listed
