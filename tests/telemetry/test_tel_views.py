"""What a person sees in Jaeger or Grafana, against a real OTLP/HTTP receiver
(protobuf, the official proto classes) and the telemetry file: outcomes a tag
search finds, one-line error statuses, services named after the program, one
warning per tree."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from tel_support import clean_env, run_clean
from test_tel_live import receiver, spans_of  # noqa: F401  (the receiver fixture)

from _pty import banner, repl_fixture
from conftest import scaled, wait_until
from devx.core import schema
from test_stack_support import EXAMPLES as HANG_EXAMPLES
from test_stack_support import PY, Env
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "debugging"
ERROR = 2  # STATUS_CODE_ERROR
repl = repl_fixture(EXAMPLES)


def by_path(spans: list[tuple[Any, dict[str, Any], dict[str, Any]]], name: str) -> dict[str, Any]:
    """The spans called ``name``, by their actor's path: (span, attributes, resource)."""
    return {a[schema.ACTOR_PATH]: (s, a, res) for s, a, res in spans if s.name == name}


def test_a_crash_as_a_trace_view_shows_it(receiver, tmp_path):  # noqa: F811
    proc = run_clean(
        [sys.executable, str(EXAMPLES / "child_crash.py")],
        scaled(60),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
    )
    assert proc.returncode == 1, proc.stderr
    actors = by_path(spans_of(receiver), schema.ACTOR_SPAN)
    divider, divider_attrs, divider_res = actors["root/divider"]
    root, root_attrs, root_res = actors["root"]
    (tree, _, _), *_ = [t for t in spans_of(receiver) if t[0].name == schema.TREE_SPAN]

    # the actor whose code raised: crashed, a tag search finds it
    assert divider_attrs[schema.ACTOR_OUTCOME] == "crashed"
    assert divider.status.code == ERROR
    # the root: its error came from the child
    assert root_attrs[schema.ACTOR_OUTCOME] == "error"
    for span, src in ((divider, "in actor root/divider"), (root, "from actor root/divider")):
        msg = span.status.message
        assert "\n" not in msg and msg.startswith("ZeroDivisionError: division by zero"), msg
        assert msg.endswith(f"({src})"), msg
    assert tree.status.code == ERROR and tree.status.message == root.status.message

    # the services: the program's name, not "root" like every unnamed tree
    assert root_res["service.name"] == "child_crash"
    assert divider_res["service.name"] == "child_crash/divider"
    assert {root_res["service.namespace"], divider_res["service.namespace"]} == {"child_crash"}
    assert root_res["process.command"].endswith("child_crash.py")
    exe = os.path.basename(sys.executable)
    assert root_res["process.executable.name"] == divider_res["process.executable.name"] == exe
    assert root_res["process.pid"] == proc_pid_of(root_attrs)
    assert divider_res["process.pid"] != root_res["process.pid"]


# a child's OTel SDK load made slow, as a starved machine makes it (its imports took
# 0.4-0.9 s with 8-16 busy loops on 2 cores): once the loader thread built its sink
# (the SDK and the exporters imported), SLOW_LOAD_S more pass before the load goes on
# (the cost under test, not a wait for something); `built` tells the child's code
# that the sink is built. The root's load is not slowed
SLOW_LOAD_SITE = """
import importlib.abc, os, sys, threading, time
os.environ.setdefault("SLOW_LOAD_ROOT", str(os.getpid()))
built = threading.Event()

class _Slow(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner
    def create_module(self, spec):
        return self.inner.create_module(spec)
    def exec_module(self, module):
        self.inner.exec_module(module)
        build = module.build_sink

        def slow_build(*args, **kwargs):
            sink = build(*args, **kwargs)
            built.set()
            time.sleep(float(os.environ["SLOW_LOAD_S"]))
            return sink

        module.build_sink = slow_build

class _SlowLoad(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "devx.telemetry.otel" or os.environ["SLOW_LOAD_ROOT"] == str(os.getpid()):
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        spec.loader = _Slow(spec.loader)
        return spec

sys.meta_path.insert(0, _SlowLoad())
"""

# the child is done as soon as its sink is built: its exit finds the load under way
SHORT_CHILD = """
import sitecustomize, trio, devx

async def one() -> int:
    await trio.to_thread.run_sync(sitecustomize.built.wait)
    return 1

async def main():
    async with devx.open_nursery() as an:
        portal = await an.start_actor("brief", enable_modules=[__name__])
        assert await portal.run(one) == 1

if __name__ == "__main__":
    trio.run(main)
"""


def test_a_child_done_before_its_sdk_loaded_still_exports_everything(receiver, tmp_path):  # noqa: F811
    """A short-lived child on a busy machine exits before its OTel SDK is in: its exit
    waits for that load (this host's work) as long as its bound, not 0.6 of it, and the
    exporters still get their share: every record arrives. Here the child's bound is
    5 s (DEVX_TELEMETRY_EXIT_TIMEOUT, within half the cancel grace) and what is left of
    its load when it exits takes 3.5 s: before, its records were dropped after 3 s
    ('the telemetry pipeline did not start'), with the collector up."""
    (tmp_path / "sitecustomize.py").write_text(SLOW_LOAD_SITE)
    (tmp_path / "brief.py").write_text(SHORT_CHILD)
    proc = run_clean(
        [sys.executable, str(tmp_path / "brief.py")],
        scaled(60),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
        DEVX_TELEMETRY_EXIT_TIMEOUT="5",
        DEVX_CANCEL_GRACE="10",
        PYTHONPATH=str(tmp_path),
        SLOW_LOAD_S="3.5",
    )
    assert proc.returncode == 0, proc.stderr
    assert "did not start" not in proc.stderr, proc.stderr
    actors = by_path(spans_of(receiver), schema.ACTOR_SPAN)
    assert set(actors) == {"root", "root/brief"}, (sorted(actors), proc.stderr)
    _, attrs, _ = actors["root/brief"]
    assert attrs[schema.ACTOR_OUTCOME] == "ok"
    assert "root/brief" in by_path(spans_of(receiver), schema.ACTOR_START_SPAN)


def proc_pid_of(attrs: dict[str, Any]) -> int:
    return int(attrs[schema.PROCESS_PID])


PKG_MAIN = """
import trio, devx

async def hello() -> int:
    return 1

async def main():
    async with devx.open_nursery() as an:
        portal = await an.start_actor("worker", enable_modules=[__name__])
        assert await portal.run(hello) == 1
        await portal.cancel_actor()

if __name__ == "__main__":
    trio.run(main)
"""


def test_python_m_pkg_is_service_pkg_and_a_refused_protocol_is_said_once(receiver, tmp_path):  # noqa: F811
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(PKG_MAIN)
    trace = tmp_path / "t.jsonl"
    env = dict(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_TELEMETRY_QUIET="1",
        PYTHONPATH=str(tmp_path),
    )
    proc = run_clean([sys.executable, "-m", "mypkg"], scaled(60), **env)
    assert proc.returncode == 0, proc.stderr
    # every actor refuses the protocol; the tree says so once
    assert proc.stderr.count("OTEL_EXPORTER_OTLP_PROTOCOL=http/json is not supported") == 1, (
        proc.stderr
    )
    assert not receiver.traces
    from devx.telemetry.readback import load_spans

    services = {
        s["attributes"][schema.ACTOR_PATH]: s["resource"]
        for s in load_spans(trace)
        if s["name"] == schema.ACTOR_SPAN
    }
    assert services["root"]["service.name"] == "mypkg"
    assert services["root/worker"]["service.name"] == "mypkg/worker"
    assert services["root/worker"]["service.namespace"] == "mypkg"


NAMED = """
import trio, devx

async def main():
    async with devx.open_root_actor(name="billing"):
        pass

trio.run(main)
"""


def test_a_named_tree_keeps_its_name(tmp_path):
    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    proc = run_clean([sys.executable, "-c", NAMED], scaled(30), DEVX_TELEMETRY_FILE=str(trace))
    assert proc.returncode == 0, proc.stderr
    (actor,) = [s for s in load_spans(trace) if s["name"] == schema.ACTOR_SPAN]
    assert actor["resource"]["service.name"] == "billing"
    assert actor["resource"]["service.namespace"] == "billing"
    assert actor["resource"]["process.command"]  # python -c: the interpreter's command


def rooted_chain(span: Any, spans: dict[bytes, Any]) -> list[str]:
    """The names from ``span`` up to the trace's root, all received; fails on a
    missing parent (Jaeger's ``<trace-without-root-span>``)."""
    chain = [span.name]
    while span.parent_span_id:
        assert span.parent_span_id in spans, f"{span.name}: parent not at the receiver: {chain}"
        span = spans[span.parent_span_id]
        chain.append(span.name)
    return chain


def test_a_live_trace_is_rooted_and_nested_while_a_repl_is_open(repl, receiver):  # noqa: F811
    r = repl(
        "child_pause_sleep.py",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
    )
    r.expect(banner("PAUSE", "pauser", "root/pauser"))
    r.prompt()

    # the prompt is up: the child's wait for the terminal is at the receiver, in a
    # trace whose root arrived too, every span between them as well
    def live_wait() -> Any:
        got = spans_of(receiver)
        waits = [
            s
            for s, a, _ in got
            if s.name == schema.LOCK_WAIT_SPAN and a[schema.ACTOR_PATH] == "root/pauser"
        ]
        return (waits[0], {s.span_id: s for s, _, _ in got}) if waits else None

    wait, index = wait_until(live_wait, scaled(15), "the child's hold at the receiver")
    assert rooted_chain(wait, index) == [
        schema.LOCK_WAIT_SPAN,
        schema.ACTOR_START_SPAN,  # root/pauser's start
        schema.ACTOR_START_SPAN,  # root's
        schema.TREE_START_SPAN,
    ]
    live = spans_of(receiver)
    starts = by_path(live, schema.ACTOR_START_SPAN)
    assert set(starts) == {"root", "root/pauser"}
    assert not [s for s, _, _ in live if s.name in (schema.TREE_SPAN, schema.ACTOR_SPAN)]

    r.child.sendline("w")
    r.expect(r"pause_and_report")
    r.prompt()
    r.child.sendline("c")
    assert r.finish() == 0

    # at the end: the lifetimes arrive, the tree's under its start, and the turn at the
    # terminal stays nested under the child's start (wait, then held -> REPL)
    final = spans_of(receiver)
    index = {s.span_id: s for s, _, _ in final}
    (tree_start,) = [s for s, _, _ in final if s.name == schema.TREE_START_SPAN]
    (tree,) = [s for s, _, _ in final if s.name == schema.TREE_SPAN]
    assert not tree_start.parent_span_id and tree.parent_span_id == tree_start.span_id
    held = next(s for s, _, _ in final if s.name == schema.LOCK_HELD_SPAN)
    (repl_span,) = [s for s, _, _ in final if s.name == schema.REPL_SPAN]
    assert held.parent_span_id == wait.parent_span_id == starts["root/pauser"][0].span_id
    assert repl_span.parent_span_id == held.span_id
    for span, _, _ in final:
        rooted_chain(span, index)  # nothing orphaned


def test_dumps_of_a_hung_tree_are_spans_at_once_and_a_killed_actor_stays_a_service(
    dump_env: Env,
    receiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    trace = tmp_path / "t.jsonl"
    dump_env.vars = clean_env(
        DEVX_RUNTIME_DIR=str(dump_env.runtime_dir),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_FILE=str(trace),
        DEVX_TELEMETRY_QUIET="1",
    )
    tree = dump_env.start([PY, str(HANG_EXAMPLES / "hung_tree.py")], name="hung_tree")
    tree.wait_lines(r"^HUNG \S+ \d+ ", 4, scaled(30))
    paths = {
        "hung_tree",
        "hung_tree/blocker",
        "hung_tree/sleeper",
        "hung_tree/spawner",
        "hung_tree/spawner/grandchild",
    }

    # every actor's start reached the receiver while the tree hangs
    def started() -> dict[str, Any] | None:
        got = by_path(spans_of(receiver), schema.ACTOR_START_SPAN)
        return got if set(got) == paths else None

    starts = wait_until(started, scaled(20), "every actor's start span")
    dump_env.track(*(int(a[schema.PROCESS_PID]) for _, a, _ in starts.values()))

    os.kill(tree.pid, signal.SIGUSR1)

    def dumped() -> dict[str, Any] | None:
        got = by_path(spans_of(receiver), schema.STACK_DUMP)
        return got if set(got) == paths else None

    dumps = wait_until(dumped, scaled(20), "a dump span from every actor")
    for path, (span, attrs, res) in dumps.items():
        assert span.parent_span_id == starts[path][0].span_id, path  # nested, live
        assert attrs["signal"] == "SIGUSR1" and attrs[schema.ACTOR_PATH] == path
        assert res["service.name"] == path  # a named tree: its own name
        assert "=====" in attrs["dump"] and len(attrs["dump"]) <= schema.DUMP_TEXT_LIMIT + 100
    assert "time.sleep" in dumps["hung_tree/blocker"][1]["dump"]  # via the watchdog thread

    # SIGKILL every process: no actor ever exits, yet each one is a service at the
    # receiver and in the file (their start spans were written when they started)
    tree.kill()
    for _, attrs, _ in starts.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(attrs[schema.PROCESS_PID]), signal.SIGKILL)
    services = {res["service.name"] for _, _, res in spans_of(receiver)}
    assert paths <= services
    from devx.telemetry.readback import load_spans

    recorded = load_spans(trace, strict=False)
    in_file = {
        s["attributes"][schema.ACTOR_PATH] for s in recorded if s["name"] == schema.ACTOR_START_SPAN
    }
    assert in_file == paths
    # the Grafana panels' queries over this recording: every killed actor listed, each dump
    from test_compose_stack import dashboard_queries, run_traceql

    queries = dashboard_queries()
    started = run_traceql(queries["Actors started"], recorded, tree="hung_tree")
    assert {r["resource.service.name"] for r in started} == paths
    dumped = run_traceql(queries["Stack dumps (live spans)"], recorded, tree="hung_tree")
    assert {r["resource.service.name"] for r in dumped} == paths
    assert {r["span.signal"] for r in dumped} == {"SIGUSR1"}
    assert run_traceql(queries["Actor lifetimes"], recorded, tree=".+") == []  # none exited
    assert not [s for s, _, _ in spans_of(receiver) if s.name == schema.ACTOR_SPAN]
