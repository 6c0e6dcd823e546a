"""Live telemetry latency, as a person watching Jaeger sees it (not a test).

A local OTLP/HTTP receiver (protobuf, the official proto classes) stamps each request
as it arrives; the target runs with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at it.

- grant -> hold at the receiver: a child pauses at once (its SDK still loading);
  from the grant (the ``devx.tty_lock.wait`` span's end) to that span's arrival, and
  whether it arrived before the prompt appeared on the PTY.
- SIGUSR1 -> every dump at the receiver: 8 actors (root + 7 children); from the
  signal to the last actor's ``devx.stack_dump`` span (and, for comparison, its log
  record) arriving. No span at all is reported as ``None``.

Usage: python bench/bench_live_telemetry.py [runs]   (medians over runs, printed)
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pexpect
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TARGET = Path(__file__).with_name("_live_target.py")
PROMPT = "(Pdb+) "
ACTORS = 8


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[int, Any, dict[str, Any]]] = []  # (arrival ns, span, resource)
        self.logs: list[tuple[int, Any, dict[str, Any]]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def clear(self) -> None:
        self.spans.clear()
        self.logs.clear()


def _attrs(kvs: Any) -> dict[str, Any]:
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.time_ns()
        if self.path == "/v1/traces":
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                res = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    self.server.spans += [(now, s, res) for s in ss.spans]
            reply = ExportTraceServiceResponse().SerializeToString()
        else:
            lreq = ExportLogsServiceRequest.FromString(body)
            for rl in lreq.resource_logs:
                res = _attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    self.server.logs += [(now, r, res) for r in sl.log_records]
            reply = ExportLogsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


def _env(receiver: Receiver) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEVX_TELEMETRY_QUIET="1",
        NO_COLOR="1",
        TERM="xterm",
    )
    return env


def _wait(pred: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.002)
    return None


def grant_to_hold(receiver: Receiver) -> tuple[float | None, float | None]:
    """(seconds from the grant to the hold's arrival, from the prompt to it: < 0 when
    it arrived before the prompt)."""
    receiver.clear()
    child = pexpect.spawn(
        sys.executable, [str(TARGET), "pause"], env=_env(receiver), encoding="utf-8", timeout=30
    )
    child.delaybeforesend = None
    child.expect_exact(PROMPT)
    prompt_ns = time.time_ns()

    def hold() -> Any:
        return next(
            (
                (t, s)
                for t, s, res in list(receiver.spans)
                if s.name == "devx.tty_lock.wait" and res.get("devx.actor.path") == "root/pauser"
            ),
            None,
        )

    got = _wait(hold, 10.0)
    child.sendline("c")
    child.expect(pexpect.EOF)
    if got is None:
        return None, None
    arrival, span = got
    return (arrival - span.end_time_unix_nano) / 1e9, (arrival - prompt_ns) / 1e9


def sigusr1_to_dumps(receiver: Receiver) -> tuple[float | None, float | None]:
    """(seconds from SIGUSR1 to every actor's dump span, ... to every dump log record)."""
    receiver.clear()
    proc = subprocess.Popen(
        [sys.executable, str(TARGET), "hang", str(ACTORS)],
        env=_env(receiver),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        while not proc.stdout.readline().startswith("READY"):
            pass
        time.sleep(2.0)  # every child's telemetry booted and idle
        t0 = time.time_ns()
        os.kill(proc.pid, signal.SIGUSR1)

        def all_of(items: list[tuple[int, Any, dict[str, Any]]], name: str) -> int | None:
            seen: dict[str, int] = {}
            for t, rec, res in list(items):
                if getattr(rec, "name", None) == name or getattr(rec, "event_name", None) == name:
                    seen.setdefault(res.get("devx.actor.path", "?"), t)
            return max(seen.values()) if len(seen) >= ACTORS else None

        logs = _wait(lambda: all_of(receiver.logs, "devx.stack_dump"), 15.0)
        spans = _wait(lambda: all_of(receiver.spans, "devx.stack_dump"), 5.0)
        return (
            (spans - t0) / 1e9 if spans else None,
            (logs - t0) / 1e9 if logs else None,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _median(xs: list[float | None]) -> str:
    vals = [x for x in xs if x is not None]
    if not vals:
        return "None (never arrived)"
    missing = len(xs) - len(vals)
    return f"{statistics.median(vals) * 1000:+.0f} ms" + (f" ({missing} never)" if missing else "")


def main(runs: int) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    holds: list[float | None] = []
    after_prompt: list[float | None] = []
    for _ in range(runs):
        lat, late = grant_to_hold(receiver)
        holds.append(lat)
        after_prompt.append(late)
    print(
        f"grant -> hold at the receiver: median {_median(holds)} over {runs} runs "
        f"{[round(x, 3) if x is not None else None for x in holds]}; "
        f"prompt -> hold: median {_median(after_prompt)} "
        f"{[round(x, 3) if x is not None else None for x in after_prompt]}"
    )
    span_t, log_t = [], []
    for _ in range(runs):
        s, lg = sigusr1_to_dumps(receiver)
        span_t.append(s)
        log_t.append(lg)
    print(
        f"SIGUSR1 -> {ACTORS} dump spans at the receiver: median {_median(span_t)}; "
        f"-> {ACTORS} dump log records: median {_median(log_t)} over {runs} runs"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
