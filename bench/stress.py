"""Fault, load and hostile-input scenarios against live devx trees: ``make stress``.

    python bench/stress.py [--only NAME ...]

Not part of ``make test``: it takes a minute or two and measures rather than
asserts. Every scenario is bounded (a deadline of its own) and prints one row of
one table: scenario, figure (recovery time, RSS growth, fds, orphans, messages
lost), verdict (ok / FAIL). Exits non-zero when any verdict is FAIL.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TESTS = ROOT / "tests"
SCRIPTS = TESTS / "scripts"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(TESTS))

import devx  # noqa: E402
import faults_fns as ff  # noqa: E402
import hardening_fns as hf  # noqa: E402

# every process we start carries this tag, so orphans are ours, never someone else's
TAG = f"DEVX_STRESS_RUN={os.getpid()}-{time.monotonic_ns()}"
os.environ[TAG.split("=")[0]] = TAG.split("=")[1]
WORK = Path(tempfile.mkdtemp(prefix="devx-stress-"))
os.environ["TMPDIR"] = str(WORK)
os.environ["XDG_RUNTIME_DIR"] = str(WORK)
os.environ["DEVX_TELEMETRY_FILE"] = str(WORK / "stress.otlp.jsonl")
tempfile.tempdir = str(WORK)

Row = tuple[str, str, bool]


# --- measuring -------------------------------------------------------------------------


def actor_pids() -> set[int]:
    """Live devx child actors started by this run."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"devx.runtime.child" not in (entry / "cmdline").read_bytes():
                continue
            if "State:\tZ" in (entry / "status").read_text():
                continue
            if TAG.encode() in (entry / "environ").read_bytes().split(b"\0"):
                out.add(int(entry.name))
        except OSError:
            continue
    return out


def gone_after(pids: set[int], timeout: float) -> tuple[float, set[int]]:
    """Seconds until none of ``pids`` is alive (or ``timeout``), and who is left."""
    t0 = time.monotonic()
    alive = set(pids)
    while alive and time.monotonic() - t0 < timeout:
        alive &= actor_pids()
        if alive:
            time.sleep(0.02)
    return time.monotonic() - t0, alive


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sockets(pid: int | str = "self") -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def captured_log() -> Lines:
    h = Lines()
    logger = logging.getLogger("devx")
    for old in list(logger.handlers):
        if isinstance(old, Lines):
            logger.removeHandler(old)
    logger.addHandler(h)
    logger.propagate = False
    return h


def quiet_devx_log() -> None:
    """The root's own devx log lines are counted, not printed over the table."""
    logger = logging.getLogger("devx")
    for h in list(logger.handlers):
        if not isinstance(h, Lines):
            logger.removeHandler(h)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def run_tree(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def pids_line(proc: subprocess.Popen) -> list[int]:
    line = proc.stdout.readline()
    if not line.startswith("PIDS"):
        raise RuntimeError(f"no PIDS line: {line!r} {proc.stderr.read()[-500:]}")
    return list(map(int, line.split()[1:]))


def finish(proc: subprocess.Popen, timeout: float = 20) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


# --- hostile input -------------------------------------------------------------------------


def planted_socket_dir() -> Row:
    base = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
    planted = base / f"devx-{os.getuid()}"
    planted.mkdir()
    os.chmod(planted, 0o777)
    who = "world-writable"
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)
        who = "uid nobody"
    old = os.environ["XDG_RUNTIME_DIR"]
    os.environ["XDG_RUNTIME_DIR"] = str(base)
    log = captured_log()

    async def main() -> str:
        async with devx.open_nursery(transport="uds") as an:
            portal = await an.start_actor("w", enable_modules=["hardening_fns"])
            return str(await portal.run(hf.listen_addr))

    try:
        child_addr = trio.run(main)
    finally:
        os.environ["XDG_RUNTIME_DIR"] = old
    inside = len(os.listdir(planted))
    warned = sum("not using" in m for m in log.lines)
    ok = inside == 0 and not child_addr.startswith(str(planted) + "/") and warned == 1
    return (
        f"planted devx-<uid> dir ({who})",
        f"{inside} sockets in it, {warned} warning",
        ok,
    )


def unauthenticated_big_frames() -> Row:
    header = struct.pack(">I", 63 * 1024 * 1024)
    payload = b"\0" * (8 * 1024 * 1024)

    async def main() -> tuple[int, float, int]:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["hardening_fns"])
            addr = await portal.run(hf.listen_addr)  # attack the child: its RSS is clean
            pid = await portal.run(hf.my_pid)
            before = rss_kib(pid)
            peak = before

            async def attack() -> None:
                s = await trio.open_tcp_stream(*addr)
                try:
                    await s.send_all(header + payload)
                    while await s.receive_some(65536):
                        pass
                except trio.BrokenResourceError:
                    pass
                await s.aclose()

            async with trio.open_nursery() as n:
                for _ in range(8):
                    n.start_soon(attack)
                t0 = trio.current_time()
                await portal.run(hf.my_pid)
                call = trio.current_time() - t0
                peak = max(peak, rss_kib(pid))
            peak = max(peak, rss_kib(pid))
            return peak - before, call, pid

    grown, call, _pid = trio.run(main)
    return (
        "8 x 63 MiB frames before Hello",
        f"child RSS +{grown / 1024:.1f} MiB, a call meanwhile {call * 1000:.0f} ms",
        grown < 16 * 1024 and call < 0.5,
    )


def idle_unauthenticated(n_conns: int = 1000) -> Row:
    from devx.core.settings import Settings

    PREAUTH_TIMEOUT = Settings().preauth_timeout

    log = captured_log()

    async def main() -> tuple[float, int, int]:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["hardening_fns"])
            await portal.run(hf.my_pid)
            addr = devx.current_actor().listen_addr
            before = sockets()
            t0 = trio.current_time()

            async def idle() -> None:
                s = await trio.open_tcp_stream(*addr)
                try:
                    with trio.move_on_after(PREAUTH_TIMEOUT + 10):
                        while await s.receive_some(100):  # the actor closes it
                            pass
                except trio.BrokenResourceError:
                    pass
                await s.aclose()

            async with trio.open_nursery() as n:
                for _ in range(n_conns):
                    n.start_soon(idle)
            took = trio.current_time() - t0
            await portal.run(hf.my_pid)
            deadline = trio.current_time() + 5
            while sockets() > before and trio.current_time() < deadline:
                await trio.sleep(0.05)
            return took, sockets() - before, len(log.lines)

    took, fds, lines = trio.run(main)
    return (
        f"{n_conns} idle connections, no Hello",
        f"all closed in {took:.1f} s, fds +{fds}, {lines} log lines",
        fds <= 0 and lines <= 12 and took < PREAUTH_TIMEOUT + 3,
    )


def garbage_and_wrong_secret(n: int = 100) -> Row:
    import msgspec

    from devx.runtime import msgs

    log = captured_log()
    hello = msgspec.msgpack.encode(msgs.Hello(uid=msgs.ActorID("m", "1" * 32), secret="x", pid=1))
    payloads = [
        b"\xff\xff\xff\xffgarbage",
        struct.pack(">I", 3) + b"\xc1\xc1\xc1",
        b"GET / HTTP/1.1\r\n\r\n",
        struct.pack(">I", len(hello)) + hello,
    ]

    async def main() -> tuple[int, bool]:
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["hardening_fns"])
            addr = devx.current_actor().listen_addr
            closed = 0
            for i in range(n):
                s = await trio.open_tcp_stream(*addr)
                await s.send_all(payloads[i % len(payloads)])
                try:
                    while await s.receive_some(100):
                        pass
                except trio.BrokenResourceError:
                    pass
                closed += 1
                await s.aclose()
            works = await portal.run(hf.my_pid) > 0
            return closed, works

    closed, works = trio.run(main)
    return (
        f"{n} garbage / wrong-secret peers",
        f"{closed} rejected, tree works: {works}, {len(log.lines)} log lines",
        closed == n and works and len(log.lines) <= 12,
    )


# --- faults --------------------------------------------------------------------------------


def sigkill_root(script: str, label: str, grace: float) -> Row:
    before = actor_pids()
    proc = run_tree(SCRIPTS / script, env={"DEVX_CANCEL_GRACE": str(grace)})
    _root, *pids = pids_line(proc)
    os.kill(proc.pid, signal.SIGKILL)
    took, left = gone_after(set(pids), grace + 10)
    finish(proc)
    left |= actor_pids() - before
    return (label, f"children gone {took:.2f} s after, {len(left)} orphans", not left)


def ctrl_c_storm(n: int = 20) -> Row:
    trace = WORK / f"storm-{n}.otlp.jsonl"
    before = actor_pids()
    proc = run_tree(SCRIPTS / "sigint_tree.py", env={"DEVX_TELEMETRY_FILE": str(trace)})
    root, *pids = pids_line(proc)
    t0 = time.monotonic()
    for _ in range(n):
        try:
            os.killpg(root, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    _out, err = finish(proc)
    took = time.monotonic() - t0
    _, left = gone_after(set(pids), 5)
    left |= actor_pids() - before
    tracebacks = err.count("Traceback (most recent call last)")
    groups = err.count("ExceptionGroup")
    written = "telemetry written" in err
    from devx.telemetry.readback import load_spans

    actors = {
        s["attributes"].get("devx.actor.path")
        for s in load_spans(trace)
        if s["name"] == "devx.actor"
    }
    ok = tracebacks == 1 and not groups and written and len(actors) == 5 and not left
    return (
        f"{n} SIGINTs at 50 ms, no REPL",
        f"exit {took:.2f} s, {tracebacks} traceback, {groups} groups, "
        f"{len(actors)}/5 actor spans, {len(left)} orphans",
        ok,
    )


def escalation(grace: float = 2.0) -> Row:
    proc = run_tree(SCRIPTS / "stubborn_exit.py", env={"DEVX_CANCEL_GRACE": str(grace)})
    out, _err = finish(proc, 30)
    took = float(dict(x.split(" ", 1) for x in out.splitlines())["EXITED"])
    return (
        f"stubborn child, grace {grace:g} s",
        f"SIGTERMed, gone {took:.2f} s after the cancel",
        grace - 0.05 <= took < grace + 0.5,
    )


def idle_children_cancel(n: int = 16) -> Row:
    log = captured_log()

    async def main() -> tuple[float, list[int | None]]:
        async with devx.open_nursery() as an:
            portals = [
                await an.start_actor(f"w{i}", enable_modules=["hardening_fns"]) for i in range(n)
            ]
            for p in portals:
                await p.run(hf.my_pid)
            t0 = trio.current_time()
            await an.cancel()
            return trio.current_time() - t0, [p._child.exit_code for p in portals]

    took, codes = trio.run(main)
    termed = sum("SIGTERM" in m for m in log.lines)
    return (
        f"{n} idle children cancelled",
        f"all gone in {took * 1000:.0f} ms, {termed} SIGTERMed, exit codes {set(codes)}",
        took < 0.5 and termed == 0 and set(codes) == {0},
    )


# --- load ----------------------------------------------------------------------------------


def pausers(n: int = 32) -> Row:
    from devx.core import schema
    from devx.telemetry.readback import load_logs

    trace = WORK / "fifo.otlp.jsonl"
    t0 = time.monotonic()
    proc = run_tree(
        EXAMPLES / "debugging" / "habits_fifo.py", str(n), env={"DEVX_TELEMETRY_FILE": str(trace)}
    )
    finish(proc, 120)
    took = time.monotonic() - t0
    logs = load_logs(trace)
    asked = {
        r["attributes"][schema.REQUEST_ID]: r["attributes"][schema.REQUESTED_AT]
        for r in logs
        if r["event_name"] == schema.LOCK_REQUESTED
    }
    grants = sorted(
        (r["attributes"] for r in logs if r["event_name"] == schema.LOCK_GRANTED),
        key=lambda a: a[schema.HOLD_ID],
    )
    order = [asked[g[schema.REQUEST_ID]] for g in grants if g[schema.HOLDER_PATH] != "root"]
    inverted = sum(
        1 for i in range(len(order)) for j in range(i + 1, len(order)) if order[i] > order[j]
    )
    pairs = len(order) * (len(order) - 1) // 2
    ok = proc.returncode == 0 and len(order) == n and inverted == 0
    return (
        f"{n} concurrent pausers, no TTY",
        f"{len(order)} grants in {took:.1f} s, {inverted}/{pairs} pairs out of order",
        ok,
    )


def many_calls(children: int = 16, calls: int = 10_000) -> Row:
    async def main() -> tuple[float, int, int]:
        async with devx.open_nursery() as an:
            portals = [
                await an.start_actor(f"c{i}", enable_modules=["fns"]) for i in range(children)
            ]
            import fns

            await portals[0].run(fns.add, a=1, b=1)
            before = rss_kib()
            wrong = 0
            t0 = trio.current_time()

            async def worker(p, k: int) -> None:
                nonlocal wrong
                for i in range(calls // children):
                    if await p.run(fns.add, a=i, b=k) != i + k:
                        wrong += 1

            async with trio.open_nursery() as n:
                for k, p in enumerate(portals):
                    n.start_soon(worker, p, k)
            return trio.current_time() - t0, wrong, rss_kib() - before

    took, wrong, grown = trio.run(main)
    return (
        f"{calls} calls across {children} children",
        f"{calls / took:.0f} calls/s, {wrong} lost or wrong, root RSS +{grown / 1024:.1f} MiB",
        wrong == 0,
    )


def spawn_cycles(cycles: int = 200) -> Row:
    async def main() -> tuple[float, int, int, int]:
        async with devx.open_nursery() as an:
            for i in range(10):  # warm up: caches, lazily loaded modules
                p = await an.start_actor(f"warm{i}", enable_modules=["hardening_fns"])
                await p.cancel_actor()
            rss0, fds0 = rss_kib(), sockets()
            t0 = trio.current_time()
            for i in range(cycles):
                p = await an.start_actor(f"s{i}", enable_modules=["hardening_fns"])
                await p.run(hf.my_pid)
                await p.cancel_actor()
            took = trio.current_time() - t0
            # the last child's supervisor forgets it right after cancel_actor() returns
            with trio.move_on_after(2):
                while an.children:
                    await trio.sleep(0.01)
            return took, rss_kib() - rss0, sockets() - fds0, len(an.children)

    before = actor_pids()
    took, grown, fds, kept = trio.run(main)
    left = actor_pids() - before
    per = grown / cycles
    return (
        f"{cycles} spawn/teardown cycles",
        f"{took / cycles * 1000:.0f} ms each, root RSS {per:+.2f} KiB/cycle, fds {fds:+d}, "
        f"{kept} records kept, {len(left)} orphans",
        per < 2 and fds <= 0 and kept == 0 and not left,
    )


# --- issue 24: strangers, hostile errors, bounded streams, signals, names, boot at load ----


def strangers(n: int = 192) -> Row:
    """Another uid holds 3x the pre-auth places, renewing each before the timeout."""
    if os.geteuid() != 0:
        return ("idle strangers (uid 65534) hold the places", "skipped: needs root", True)
    from devx.core.settings import Settings
    from stranger import NOBODY, Stranger

    stranger = Stranger(n, renew_after=0.75 * Settings().preauth_timeout)

    async def main() -> tuple[int, float, bool, str]:
        started = 0
        reached_root = False
        t0 = trio.current_time()
        async with devx.open_nursery(enable_modules=["faults_fns"]) as an:
            ready = await stranger.attack(devx.current_actor().listen_addr)
            assert ready == f"READY {NOBODY} {n}", ready
            t0 = trio.current_time()
            try:
                for i in range(4):
                    try:
                        p = await an.start_actor(f"w{i}", enable_modules=["faults_fns"])
                        await p.run(ff.my_pid)
                        started += 1
                    except devx.ActorBootError:
                        pass
                if started:
                    try:
                        reached_root = await p.run(ff.spawn_and_ask_root) == os.getpid()
                    except Exception:
                        pass
            finally:
                report = await stranger.stop()
        return started, trio.current_time() - t0, reached_root, report

    try:
        started, took, reached, report = trio.run(main)
    except BaseException as exc:  # the root's own nursery may fail too
        started, took, reached, report = 0, 0.0, False, f"{type(exc).__name__}"
    return (
        f"{n} idle strangers (uid 65534) renewing",
        f"{started}/4 children started in {took:.1f} s, grandchild->root "
        f"{'ok' if reached else 'FAILED'}; stranger: {report.lower()}",
        started == 4 and reached,
    )


def hostile_errors() -> Row:
    """An exception whose __str__ raises, then a 50 MB error message."""

    async def main() -> tuple[str, str, bool, int]:
        async with devx.open_nursery() as an:
            p = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await p.run(ff.my_pid)
            got = []
            for fn in (ff.raise_bad_str, ff.raise_huge):
                try:
                    await p.run(fn)
                    got.append("returned")
                except devx.RemoteActorError as exc:
                    got.append(f"RemoteActorError ({len(exc.info.message) // 1024} KiB)")
                except Exception as exc:
                    got.append(type(exc).__name__)
            try:
                alive = await p.run(ff.my_pid) == pid
            except Exception:
                alive = False
            return got[0], got[1], alive, pid

    try:
        bad, huge, alive, _ = trio.run(main)
    except BaseException as exc:
        bad, huge, alive = type(exc).__name__, "-", False
    return (
        "__str__ raises; 50 MB error message",
        f"{bad}; {huge}; actor {'still serving' if alive else 'DEAD'}",
        bad.startswith("RemoteActorError") and huge.startswith("RemoteActorError") and alive,
    )


def stream_rss(total_mib: int = 250, item_kib: int = 64) -> Row:
    """A slow consumer of a 250 MiB open_stream_from: the receiver's peak RSS growth."""
    n = total_mib * 1024 // item_kib

    async def main() -> tuple[int, int]:
        async with devx.open_nursery() as an:
            p = await an.start_actor("w", enable_modules=["faults_fns"])
            await p.run(ff.my_pid)
            gc_collect()
            before = peak = rss_kib()
            got = 0
            async with p.open_stream_from(ff.big_items, n=n, size=item_kib * 1024) as stream:
                async for item in stream:
                    got += len(item)
                    if got // (item_kib * 1024) % 16 == 0:
                        peak = max(peak, rss_kib())
                        await trio.sleep(0.005)  # the slow consumer
            return peak - before, got

    grown, got = trio.run(main)
    return (
        f"open_stream_from {total_mib} MiB, slow reader",
        f"receiver peak RSS +{grown / 1024:.1f} MiB, {got >> 20} MiB received",
        grown < 32 * 1024 and got == n * item_kib * 1024,
    )


def gc_collect() -> None:
    import gc

    gc.collect()


def sigterm_busy(grace: float = 1.0) -> Row:
    """SIGTERM (from outside the tree) to a child spinning in sync code."""
    marker = WORK / f"busy-{time.monotonic_ns()}"
    os.environ["DEVX_CANCEL_GRACE"] = str(grace)

    async def main() -> tuple[str, float]:
        t0 = 0.0
        try:
            with trio.fail_after(grace + 10):
                async with devx.open_nursery() as an:
                    p = await an.start_actor("busy", enable_modules=["faults_fns"])

                    async def call() -> None:
                        try:
                            await p.run(ff.busy_loop, marker=str(marker))
                        except (devx.ActorExited, devx.ChannelClosed):
                            pass

                    async with trio.open_nursery() as n:
                        n.start_soon(call)
                        while not marker.exists() or not marker.read_text():
                            await trio.sleep(0.01)
                        t0 = trio.current_time()
                        os.kill(int(marker.read_text()), signal.SIGTERM)
                        await trio.sleep_forever()
        except devx.ActorExited as exc:
            return f"ActorExited (exit code {exc.exit_code})", trio.current_time() - t0
        except trio.TooSlowError:
            return "still running", trio.current_time() - t0
        return "nothing raised", trio.current_time() - t0

    try:
        told, took = trio.run(main)
    finally:
        del os.environ["DEVX_CANCEL_GRACE"]
        pid = int(marker.read_text()) if marker.exists() else 0
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return (
        f"SIGTERM to a busy child, grace {grace:g} s",
        f"parent told {told} {took:.1f} s after",
        told.startswith("ActorExited") and took < grace + 3,
    )


def kill_before_exit(method: str) -> Row:
    """A SIGKILL nobody in the tree sent, right before the nursery block exits."""

    async def main() -> None:
        async with devx.open_nursery(spawn_method=method) as an:
            p = await an.start_actor("victim", enable_modules=["faults_fns"])
            os.kill(await p.run(ff.my_pid), signal.SIGKILL)

    try:
        trio.run(main)
        got = "nothing raised (taken for a cancel)"
    except devx.ActorExited as exc:
        got = f"ActorExited ({exc.exit_code})"
    except BaseException as exc:
        got = type(exc).__name__
    return (
        f"SIGKILL just before block exit ({method})",
        got,
        got.startswith("ActorExited"),
    )


def bad_settings() -> Row:
    """Each bad value makes the root refuse to open, with one line naming it."""
    code = (
        "import trio, devx\n"
        "async def m():\n"
        "    async with devx.open_root_actor(): pass\n"
        "trio.run(m)"
    )
    good = 0
    cases = [
        ("DEVX_STREAM_WINDOW", "0"),
        ("DEVX_CANCEL_GRACE", "-1"),
        ("DEVX_CANCEL_GRACE", "nan"),
        ("DEVX_CANCEL_GRACE", "3s"),
    ]
    for var, val in cases:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, var: val},
        )
        named = [line for line in proc.stderr.splitlines() if f"{var}={val!r}" in line]
        good += proc.returncode != 0 and len(named) == 1
    return (
        "DEVX_STREAM_WINDOW=0, DEVX_CANCEL_GRACE=-1/nan/3s",
        f"{good}/{len(cases)} refused at open with a line naming them",
        good == len(cases),
    )


def long_name() -> Row:
    async def main() -> str:
        async with devx.open_nursery() as an:
            try:
                await an.start_actor("n" * 10_000, enable_modules=["faults_fns"])
                return "started"
            except ValueError as exc:
                return f"ValueError at start_actor ({len(str(exc))} chars)"
            except Exception as exc:
                return f"{type(exc).__name__}: {str(exc)[:50]}"

    got = trio.run(main)
    return ("10 000-character actor name", got, got.startswith("ValueError"))


def spawn_at_load(n: int = 64, loaders: int = 2) -> Row:
    """n concurrent start_actor while every core is kept busy."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(loaders)]

    async def main() -> tuple[float, int, float]:
        failed = 0
        slowest = 0.0
        t0 = trio.current_time()
        async with devx.open_nursery() as an:

            async def one(i: int) -> None:
                nonlocal failed, slowest
                t = trio.current_time()
                try:
                    p = await an.start_actor(f"s{i}", enable_modules=["faults_fns"])
                    await p.run(ff.my_pid)
                except devx.ActorBootError:
                    failed += 1
                slowest = max(slowest, trio.current_time() - t)

            async with trio.open_nursery() as nn:
                for i in range(n):
                    nn.start_soon(one, i)
            took = trio.current_time() - t0
            await an.cancel()
        return took, failed, slowest

    try:
        took, failed, slowest = trio.run(main)
    except BaseException as exc:
        return (f"{n} concurrent start_actor, {loaders} busy loops", type(exc).__name__, False)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return (
        f"{n} concurrent start_actor, {loaders} busy loops",
        f"all up in {took:.1f} s (slowest start {slowest:.1f} s), {failed} failed to boot",
        failed == 0,
    )


def garbage_large_frames(n: int = 8, mib: int = 50) -> Row:
    """Authenticated peers each send a 50 MB frame that does not decode."""
    import msgspec

    from devx.runtime import msgs

    async def main() -> tuple[int, int]:
        async with devx.open_nursery() as an:
            p = await an.start_actor("w", enable_modules=["faults_fns"])
            addr = await p.run(ff.listen_addr)
            pid = await p.run(ff.my_pid)
            before = peak = rss_kib(pid)
            size = mib * 1024 * 1024
            for _ in range(n):
                stream = await trio.open_tcp_stream(*addr)
                hello = msgs.Hello(
                    uid=msgs.ActorID("peer", "0" * 32),
                    secret=devx.current_actor().secret,
                    pid=1,
                    proto=msgs.PROTOCOL,
                )
                body = msgspec.msgpack.encode(hello)
                await stream.send_all(struct.pack(">I", len(body)) + body)
                await stream.receive_some(1000)
                await stream.send_all(struct.pack(">I", size) + b"\xc1" * size)
                while await stream.receive_some(65536):
                    pass
                await stream.aclose()
                peak = max(peak, rss_kib(pid))
            # the last connection's handler may still be finishing when the call comes
            # (it closed the socket first): a leak is a channel still held 2 s later
            held = await p.run(ff.closed_channels)
            with trio.move_on_after(2):
                while held:
                    await trio.sleep(0.05)
                    held = await p.run(ff.closed_channels)
            return peak - before, held

    grown, held = trio.run(main)
    return (
        f"{n} x {mib} MB garbage frames after Hello",
        f"child peak RSS +{grown / 1024:.0f} MiB, {held} closed channels still in memory",
        held == 0 and grown < 2 * mib * 1024,
    )


SCENARIOS: dict[str, Callable[[], Row]] = {
    "planted-dir": planted_socket_dir,
    "big-frames": unauthenticated_big_frames,
    "idle-conns": idle_unauthenticated,
    "garbage": garbage_and_wrong_secret,
    "kill-blocked": lambda: sigkill_root(
        "blocked_tree.py", "SIGKILL root, children in time.sleep", 1.0
    ),
    "kill-idle": lambda: sigkill_root("sigint_tree.py", "SIGKILL root, idle children", 1.0),
    "storm": ctrl_c_storm,
    "escalation": escalation,
    "idle-cancel": idle_children_cancel,
    "pausers": pausers,
    "calls": many_calls,
    "cycles": spawn_cycles,
    "strangers": strangers,
    "hostile-errors": hostile_errors,
    "stream-rss": stream_rss,
    "sigterm-busy": sigterm_busy,
    "kill-before-exit": lambda: kill_before_exit("subprocess"),
    "kill-before-exit-fs": lambda: kill_before_exit("forkserver"),
    "bad-settings": bad_settings,
    "long-name": long_name,
    "spawn-at-load": spawn_at_load,
    "garbage-frames": garbage_large_frames,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    args = parser.parse_args()
    quiet_devx_log()
    rows: list[Row] = []
    for name, fn in SCENARIOS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        try:
            row = fn()
        except Exception as exc:  # a scenario that breaks is a FAIL row, not a crash
            row = (name, f"raised {type(exc).__name__}: {exc}"[:90], False)
        rows.append(row)
        print(f"  {name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"| {'scenario':<{w0}} | {'figure':<{w1}} | verdict |")
    print(f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|---------|")
    for scenario, figure, ok in rows:
        print(f"| {scenario:<{w0}} | {figure:<{w1}} | {'ok' if ok else 'FAIL':<7} |")
    return 0 if all(ok for _, _, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
