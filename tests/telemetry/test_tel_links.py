"""A call into another tree (issue 23) as a trace view sees it, linked in both traces:
the caller's devx.remote_call span carries an OpenTelemetry span link to the callee
actor's start span (exported at its boot) in the other tree's trace, and the callee's
devx.remote_call.serve span, under a devx.remote_call.received mark (ended on receipt)
under that start span, links back to the caller's span, as the mark does;
at a real OTLP/HTTP receiver (protobuf) and in both trees' telemetry files (written
here by the SDK's file exporter; the SDK-free file sink is checked in
tests/test_discovery.py). A call within one tree carries no trace context: no links,
no serve span, and its Start frame has no trace field."""

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
from test_discovery import other_tree

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
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    with other_tree(monkeypatch, tmp_path) as (reg, mine, theirs):

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
    assert callee_span.name == schema.ACTOR_START_SPAN  # exported at the callee's boot
    assert attrs_of(callee_span.attributes)[schema.ACTOR_PATH] == "other/svc"
    assert [service for s, service in spans if s is callee_span] == ["other/svc"]

    # the callee's trace has the span that served the call, under a mark of its
    # receipt under that start span, both linked back to the caller's span
    served = {}
    for name in (schema.REMOTE_CALL_RECEIVED_SPAN, schema.REMOTE_CALL_SERVE_SPAN):
        found = [(s, svc) for s, svc in spans if s.name == name]
        assert len(found) == 1, (name, found)
        ((span, service),) = found
        assert service == "other/svc"
        assert span.trace_id == link.trace_id
        span_attrs = attrs_of(span.attributes)
        assert span_attrs[schema.REMOTE_CALL_FUNC] == "discovery_fns.where"
        assert span_attrs[schema.CALLER_UID].startswith("caller@")
        assert span_attrs[schema.ACTOR_PATH] == "other/svc"
        (back,) = span.links
        assert (back.trace_id, back.span_id) == (call.trace_id, call.span_id)
        assert attrs_of(back.attributes) == {schema.LINK_KIND: "caller"}
        served[name] = span
    received, serve = (
        served[schema.REMOTE_CALL_RECEIVED_SPAN],
        served[schema.REMOTE_CALL_SERVE_SPAN],
    )
    assert received.parent_span_id == link.span_id  # the callee actor's start span
    assert serve.parent_span_id == received.span_id

    # the same links in the files: the caller's names a span of the callee's file,
    # whose serve span names the caller's span in the caller's file
    (file_call,) = [s for s in load_spans(mine) if s["name"] == schema.REMOTE_CALL_SPAN]
    (file_link,) = file_call["links"]
    assert (file_link["trace_id"], file_link["span_id"]) == (
        link.trace_id.hex(),
        link.span_id.hex(),
    )
    their_spans = load_spans(theirs, strict=False)
    in_theirs = [s for s in their_spans if s["span_id"] == link.span_id.hex()]
    assert [(s["trace_id"], s["name"]) for s in in_theirs] == [
        (link.trace_id.hex(), schema.ACTOR_START_SPAN)
    ]
    (file_received,) = [s for s in their_spans if s["name"] == schema.REMOTE_CALL_RECEIVED_SPAN]
    (file_serve,) = [s for s in their_spans if s["name"] == schema.REMOTE_CALL_SERVE_SPAN]
    assert file_received["parent_span_id"] == link.span_id.hex()
    assert file_serve["parent_span_id"] == file_received["span_id"]
    for span in (file_received, file_serve):
        (file_back,) = span["links"]
        assert (file_back["trace_id"], file_back["span_id"]) == (
            file_call["trace_id"],
            file_call["span_id"],
        )
        assert file_back["attributes"] == {schema.LINK_KIND: "caller"}


def test_a_call_within_one_tree_carries_no_trace_context(tmp_path: Path) -> None:
    """A child found through the root's registry (a plain portal, same tree): its
    call has no span links and no serve span in the tree's file, which the callee
    would record had the call carried the caller's traceparent."""
    path = tmp_path / "tree.otlp.jsonl"

    async def main() -> None:
        async with devx.open_nursery(telemetry=str(path)) as an:
            await an.start_actor("svc", enable_modules=["discovery_fns"])
            async with devx.find_actor("svc") as portal:
                assert type(portal) is devx.Portal
                assert (await portal.run(discovery_fns.where))["path"] == "root/svc"
            await an.cancel()

    trio.run(main)
    spans = load_spans(path, strict=False)
    names = {s["name"] for s in spans}
    assert schema.ACTOR_START_SPAN in names  # the callee's spans are in the file
    assert schema.REMOTE_CALL_SPAN not in names
    assert schema.REMOTE_CALL_SERVE_SPAN not in names
    assert schema.REMOTE_CALL_RECEIVED_SPAN not in names
    assert [s["name"] for s in spans if s.get("links")] == []


def test_the_trace_field_is_on_the_wire_only_when_set() -> None:
    """Start's trace field is not encoded at its default (a call within a tree pays
    nothing for it), and a Start encoded without it (as before the field existed)
    decodes with it empty; a set one round-trips."""
    import msgspec

    from devx.runtime.ipc import encode
    from devx.runtime.msgs import Msg, Start

    plain = bytes(encode(Start(cid=1, ns="m", func="f", kwargs={"x": 1})))
    assert b"trace" not in plain
    decoder = msgspec.msgpack.Decoder(Msg)

    class OldStart(msgspec.Struct, tag="Start"):  # the message before the field
        cid: int
        ns: str
        func: str
        kwargs: dict[str, Any]
        stream: bool = False
        context: bool = False

    old = decoder.decode(msgspec.msgpack.encode(OldStart(cid=2, ns="m", func="f", kwargs={})))
    assert old == Start(cid=2, ns="m", func="f", kwargs={})
    assert old.trace == ""
    tp = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    sent = Start(cid=3, ns="m", func="f", kwargs={}, trace=tp)
    assert decoder.decode(bytes(encode(sent))[4:]).trace == tp


def test_a_context_into_another_tree_is_served_linked_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A context opened in another tree's actor (SDK-free file sinks): the callee's
    span serving it links back to the caller's devx.context span, and the callee's own
    devx.context span is under the serve span."""
    with other_tree(monkeypatch, tmp_path) as (reg, mine, theirs):

        async def main() -> None:
            async with devx.open_root_actor(
                name="caller", registry_addrs=[reg], telemetry=str(mine)
            ):
                async with devx.find_actor("svc") as portal:
                    async with portal.open_context(discovery_fns.echo) as (ctx, first):
                        assert first == "other/svc"
                        async with ctx.open_stream() as stream:
                            await stream.send("ping")
                            assert await stream.receive() == "ping"
                        assert await ctx.result() == "done"

        trio.run(main)
    side = schema.CONTEXT_SIDE
    (caller_ctx,) = [
        s
        for s in load_spans(mine)
        if s["name"] == schema.CONTEXT_SPAN and s["attributes"][side] == "caller"
    ]
    theirs_spans = load_spans(theirs, strict=False)
    (serve,) = [s for s in theirs_spans if s["name"] == schema.REMOTE_CALL_SERVE_SPAN]
    assert serve["attributes"][schema.REMOTE_CALL_FUNC] == "discovery_fns.echo"
    (back,) = serve["links"]
    assert (back["trace_id"], back["span_id"]) == (caller_ctx["trace_id"], caller_ctx["span_id"])
    (callee_ctx,) = [
        s
        for s in theirs_spans
        if s["name"] == schema.CONTEXT_SPAN and s["attributes"][side] == "callee"
    ]
    assert callee_ctx["parent_span_id"] == serve["span_id"]
