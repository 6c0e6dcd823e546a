"""Discovery figures (issue 23), not a test: ``python bench/bench_discovery.py [ROUNDS]``.

- find_actor + first call: a fresh lookup, connection and call to an actor, in the
  same tree (the root is the registrar) and in another tree through a standalone
  ``devx registrar``; floor: a call over a portal already open.
- lookups per second against a registrar holding 100 actors (the registrar in its
  own process, the lookups over one channel); floor: the same with 1 actor.
- re-registration: the registrar is killed (SIGKILL) and started again on its port;
  the time from its "listening" line until the other tree's actor is found again.

Medians over ROUNDS (default 20; ``BENCH_SMOKE=1``: 2 and short windows).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

import trio

import devx
from devx.runtime import registry
from devx.runtime.ipc import connect
from devx.runtime.msgs import PROTOCOL, ActorID, Hello, HelloAck, Register

SECRET = "bench-discovery-secret-0123456789"
TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_discovery_target.py")


def noop() -> int:
    return 1


def _smoke() -> bool:
    return os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], ready: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DEVX_TREE_SECRET": SECRET, "DEVX_TELEMETRY_FILE": "off"}
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(TARGET),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc
    raise RuntimeError(f"{args} exited before saying {ready!r}")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _registrar(port: int) -> subprocess.Popen[str]:
    return _start(["-m", "devx", "registrar", "--listen", f"127.0.0.1:{port}"], "listening on")


async def _find_and_call(name: str, ns: str = "__main__") -> float:
    t0 = time.perf_counter()
    async with devx.find_actor(name) as portal:
        assert portal is not None
        await portal.run_from_ns(ns, "noop")
    return time.perf_counter() - t0


async def in_tree(rounds: int) -> dict[str, float]:
    async with devx.open_nursery(telemetry="off") as an:
        svc = await an.start_actor("svc", enable_modules=[__name__])
        await svc.run(noop)
        found, floor = [], []
        for _ in range(rounds):
            found.append(await _find_and_call("svc"))
            t0 = time.perf_counter()
            await svc.run(noop)
            floor.append(time.perf_counter() - t0)
        await an.cancel()
    return {"find+call": statistics.median(found), "call": statistics.median(floor)}


async def _fake_actors(reg: tuple[str, int], n: int, root: ActorID) -> list[object]:
    """``n`` registrations under ``root``, each over a channel of its own as an
    actor's is."""
    chans = []
    for i in range(n):
        chan = await connect(reg)
        uid = ActorID(f"a{i}", uuid.uuid4().hex)
        await chan.send(
            Hello(uid=uid, secret=SECRET, pid=os.getpid(), root_uid=root, proto=PROTOCOL)
        )
        assert isinstance(await chan.recv(), HelloAck)
        await chan.send(
            Register(
                uid=uid, addr=("127.0.0.1", 1), root_uid=root, path=f"fakes/a{i}", pid=os.getpid()
            )
        )
        chans.append(chan)
    return chans


async def lookups(reg: tuple[str, int], n: int, window: float) -> float:
    async with devx.open_root_actor(name="client", registry_addrs=[reg], telemetry="off"):
        root = ActorID("fakes", uuid.uuid4().hex)
        chans = await _fake_actors(reg, n, root)
        name = f"a{n // 2}"
        async with devx.get_registry() as portal:
            # registered over other channels: not ordered. Count this run's own (an
            # earlier run's may still be listed until the registrar sees them go)
            while True:
                table = await portal.run_from_ns(registry.NS, "list_actors")
                if sum(1 for entry in table if entry[2][1] == root.uuid) >= n:
                    break
                await trio.sleep(0.01)
            count, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < window:
                async with devx.query_actor(name) as (addr, _):
                    assert addr is not None
                count += 1
            rate = count / (time.perf_counter() - t0)
        for chan in chans:
            await chan.aclose()  # type: ignore[attr-defined]
    return rate


async def cross_tree(reg: tuple[str, int], rounds: int) -> float:
    async with devx.open_root_actor(name="client", registry_addrs=[reg], telemetry="off"):
        async with devx.wait_for_actor("svc"):
            pass
        return statistics.median(
            [await _find_and_call("svc", "bench_discovery") for _ in range(rounds)]
        )


async def reregistration(port: int, registrar: list[subprocess.Popen[str]]) -> float:
    """Kill the registrar, start it again; seconds from its 'listening' until svc is
    registered again (queried every 5 ms)."""
    reg = ("127.0.0.1", port)
    async with devx.open_root_actor(name="watcher", registry_addrs=[reg], telemetry="off"):
        async with devx.wait_for_actor("svc"):
            pass
        _stop(registrar[0], signal.SIGKILL)
        registrar[0] = await trio.to_thread.run_sync(_registrar, port)
        t0 = time.perf_counter()
        while True:
            try:
                async with devx.query_actor("svc", reg) as (addr, _):
                    if addr is not None:
                        return time.perf_counter() - t0
            except OSError:
                pass
            await trio.sleep(0.005)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else (2 if _smoke() else 20)
    window = 0.2 if _smoke() else 2.0
    restarts = 1 if _smoke() else 5
    os.environ["DEVX_TREE_SECRET"] = SECRET
    os.environ["DEVX_TELEMETRY_FILE"] = "off"
    figures = trio.run(in_tree, rounds)
    port = _port()
    reg = ("127.0.0.1", port)
    registrar = [_registrar(port)]
    other = None
    try:
        one = trio.run(lookups, reg, 1, window)
        hundred = trio.run(lookups, reg, 100, window)
        other = _start([TARGET, f"127.0.0.1:{port}"], "READY")
        cross = trio.run(cross_tree, reg, rounds)
        rereg = [trio.run(reregistration, port, registrar) for _ in range(restarts)]
    finally:
        if other is not None:
            _stop(other)
        _stop(registrar[0])
    ms = 1e3
    print(
        f"find_actor + first call, same tree:    {figures['find+call'] * ms:7.2f} ms "
        f"(floor: a call over an open portal {figures['call'] * ms:.3f} ms)"
    )
    print(f"find_actor + first call, another tree: {cross * ms:7.2f} ms (standalone registrar)")
    print(f"lookups/s, registrar holding 100 actors: {hundred:8.0f} (floor: holding 1: {one:.0f})")
    print(
        f"re-registration after a registrar restart: median {statistics.median(rereg) * ms:.0f} ms "
        f"(max {max(rereg) * ms:.0f} ms, {len(rereg)} restarts)"
    )


if __name__ == "__main__":
    main()
