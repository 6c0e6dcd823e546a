"""Benchmark (not a test): what a crash costs the root's trio loop, by where telemetry
goes. In one run, each in fresh processes:

* ``off``: ``OTEL_SDK_DISABLED=true``;
* ``file``: the embedded telemetry file (the default);
* ``live``: OTLP/HTTP to a receiver that answers at once;
* ``closed``: OTLP/HTTP to a port nobody listens on (connection refused);
* ``black-hole``: OTLP/HTTP to a port that accepts connections and never answers.

Per mode: the median round trip of a call whose child raises (the error boxed and
raised in the root), and the largest gap a 10 ms ticker in the root saw while the
crashes happened (the loop serving the TTY lock must never stall), plus the time the
whole tree took to exit. Target: a crash costs the loop < 5 ms more than ``off``.

Run: ``python bench/bench_dead_collector.py [crashes]``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trio

import devx

CRASHES = 5


def boom() -> None:
    raise ValueError("boom")


async def workload(crashes: int) -> dict[str, float]:
    gaps: list[float] = []
    done = trio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await trio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    trips = []
    async with devx.open_nursery(name="bench") as an:
        portal = await an.start_actor("crasher", enable_modules=[__name__])
        async with trio.open_nursery() as tn:
            tn.start_soon(ticker)
            await trio.sleep(0.3)  # the background SDK loads are done
            gaps.clear()
            for _ in range(crashes):
                t0 = time.perf_counter()
                try:
                    await portal.run(boom)
                except devx.RemoteActorError:
                    pass
                trips.append(time.perf_counter() - t0)
                await trio.sleep(0.05)
            done.set()
        t_exit = time.perf_counter()
    return {
        "trip_ms": statistics.median(trips) * 1e3,
        "gap_ms": max(gaps) * 1e3,
        "exit_s": time.perf_counter() - t_exit,
    }


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def run_mode(mode: str, crashes: int, tmp: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    env["DEVX_TELEMETRY_QUIET"] = "1"
    env["DEVX_TELEMETRY_FILE"] = os.path.join(tmp, f"{mode}.jsonl")
    keep: list[object] = []
    if mode == "off":
        env["OTEL_SDK_DISABLED"] = "true"
    elif mode == "live":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        keep.append(server)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
    elif mode == "closed":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    elif mode == "black-hole":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)  # connections complete in the kernel; nobody ever reads
        keep.append(s)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(crashes)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    for obj in keep:
        if isinstance(obj, ThreadingHTTPServer):
            obj.shutdown()
            obj.server_close()
        elif isinstance(obj, socket.socket):
            obj.close()
    if out.returncode != 0:
        raise RuntimeError(f"{mode}: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(trio.run(workload, int(sys.argv[2]))))
        return
    crashes = int(sys.argv[1]) if len(sys.argv) > 1 else CRASHES
    with tempfile.TemporaryDirectory() as tmp:
        t_all = time.perf_counter()
        rows = [
            (mode, run_mode(mode, crashes, tmp))
            for mode in ("off", "file", "live", "closed", "black-hole")
        ]
    print(f"{crashes} crashes per mode ({time.perf_counter() - t_all:.1f} s in all)")
    print(f"{'mode':<11} {'crash trip':>11} {'max loop gap':>13} {'tree exit':>10}")
    for mode, r in rows:
        print(f"{mode:<11} {r['trip_ms']:>8.1f} ms {r['gap_ms']:>10.1f} ms {r['exit_s']:>8.2f} s")


if __name__ == "__main__":
    main()
