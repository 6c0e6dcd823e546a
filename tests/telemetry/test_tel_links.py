"""A call into another tree (issue 23) as a trace view sees it: the caller's
devx.remote_call span carries an OpenTelemetry span link to the callee's actor span in
the other tree's trace, at a real OTLP/HTTP receiver (protobuf) and in both trees'
telemetry files (written here by the SDK's file exporter; the SDK-free file sink is
checked in tests/test_discovery.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio
from test_tel_otlp import (
    Receiver,
    attrs_of,
    receiver,  # noqa: F401  (the fixture)
)

import devx
import discovery_fns
from devx.core import schema
from devx.telemetry import backend
from devx.telemetry.readback import load_spans
from test_discovery import SECRET, _free_port, _registrar, _tree

pytestmark = pytest.mark.timeout(180)


def _received(receiver: Receiver) -> list[tuple[Any, str]]:  # noqa: F811
    """Every span at the receiver with its service name."""
    out = []
    for req in list(receiver.traces):
        for rs in req.resource_spans:
            service = attrs_of(rs.resource.attributes)["service.name"]
            for ss in rs.scope_spans:
                out += [(s, service) for s in ss.spans]
    return out


def test_a_cross_tree_call_is_a_span_link_at_the_receiver_and_in_both_files(
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import conftest

    for key in set(os.environ) - set(conftest.clean_env()):
        monkeypatch.delenv(key)
    monkeypatch.setenv("DEVX_TELEMETRY_QUIET", "1")
    backend.reset_warnings()
    port = _free_port()
    reg = ("127.0.0.1", port)
    mine, theirs = tmp_path / "caller.otlp.jsonl", tmp_path / "callee.otlp.jsonl"
    monkeypatch.setenv("DEVX_TREE_SECRET", SECRET)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("DEVX_TELEMETRY_FILE", str(theirs))  # the other tree's (a process)
    with _registrar(port), _tree(reg, "--name", "other", "--start", "svc"):

        async def main() -> None:
            async with devx.open_root_actor(
                name="caller", registry_addrs=[reg], telemetry=str(mine)
            ):
                async with devx.find_actor("svc") as portal:
                    assert (await portal.run(discovery_fns.where))["path"] == "other/svc"

        trio.run(main)
    # both trees have ended: every span is at the receiver and in the files

    spans = _received(receiver)
    calls = [s for s, service in spans if s.name == schema.REMOTE_CALL_SPAN]
    assert len(calls) == 1, calls
    (call,) = calls
    assert [service for s, service in spans if s is call] == ["caller"]
    (link,) = call.links
    assert attrs_of(link.attributes) == {schema.LINK_KIND: "callee"}
    target = [s for s, service in spans if s.span_id == link.span_id]
    assert len(target) == 1, "the linked span is not at the receiver"
    (callee_span,) = target
    assert callee_span.trace_id == link.trace_id != call.trace_id  # another tree's trace
    assert callee_span.name == "devx.actor"
    assert attrs_of(callee_span.attributes)[schema.ACTOR_PATH] == "other/svc"
    assert [service for s, service in spans if s is callee_span] == ["other/svc"]

    # the same link in the caller's file, naming a span of the callee's file
    (file_call,) = [s for s in load_spans(mine) if s["name"] == schema.REMOTE_CALL_SPAN]
    (file_link,) = file_call["links"]
    assert (file_link["trace_id"], file_link["span_id"]) == (
        link.trace_id.hex(),
        link.span_id.hex(),
    )
    in_theirs = [s for s in load_spans(theirs, strict=False) if s["span_id"] == link.span_id.hex()]
    assert [(s["trace_id"], s["name"]) for s in in_theirs] == [(link.trace_id.hex(), "devx.actor")]
