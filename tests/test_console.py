"""devx's own terminal output through the console gate (devx.runtime.console): held
back while the gate is closed (a REPL live in the tree), written in order on release,
bounded, flushed at exit; readable lines on a terminal, JSON elsewhere. Real
processes: a script on a real PTY (pexpect) or on a pipe, synchronized on its
printed lines and on files, never on sleeps."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _pty import Repl
from conftest import clean_env
from devx.debug.stack import registry as reg

pytestmark = pytest.mark.timeout(60)

# Boots a root actor with logs and stack dumps on, closes the gate, then writes
# through every devx path: the devx logger from the trio thread and from a helper
# thread, structlog (configured by devx), a stack dump; the user's prints go on.
# Waits for the test's "go" on stdin before releasing.
GATE_SCRIPT = textwrap.dedent(
    """
    import logging, os, signal, sys, threading
    import structlog  # the app uses structlog: devx configures it (through the gate)
    import trio, devx
    from devx.debug.stack import registry as reg
    from devx.runtime import console

    log = logging.getLogger("devx.test")

    def logs_ready():  # the telemetry log handler forwards (structlog is in)
        return any(getattr(h, "_devx_telemetry_handler", False)
                   and getattr(h, "forward", None) is not None
                   for h in logging.getLogger("devx").handlers)

    def dumps(path):
        try:
            with open(path) as f:
                return f.read().count(reg.END_MARKER)
        except FileNotFoundError:
            return 0

    async def main():
        async with devx.open_root_actor(
            name="croot", loglevel="info", enable_stack_on_sig=True, telemetry="off"
        ):
            while not logs_ready():
                await trio.sleep(0.01)
            log.warning("line before hold")
            console.hold("test")
            print("USER held", flush=True)
            log.warning("held from trio")
            helper = threading.Thread(
                target=logging.getLogger("devx.telemetry").warning,
                args=("held from thread",),
            )
            helper.start()
            helper.join()
            structlog.get_logger("app").warning("held from structlog", k=1)
            path = reg.log_path()
            before = dumps(path)
            os.kill(os.getpid(), signal.SIGUSR1)
            while dumps(path) == before:  # the dump file is written at once
                await trio.sleep(0.01)
            print("DUMP IN FILE", flush=True)
            assert console.held()
            print("WAITING", flush=True)
            await trio.to_thread.run_sync(sys.stdin.readline)
            print("RELEASING", flush=True)
            console.release()
            log.warning("line after release")
            print("USER after", flush=True)

    trio.run(main)
    """
)

HELD = ["held from trio", "held from thread", "held from structlog", reg.BEGIN_MARKER]
# the log records GATE_SCRIPT writes, in order (the held ones among them)
HELD_THEN_RELEASED = [
    "line before hold",
    "held from trio",
    "held from thread",
    "held from structlog",
    "line after release",
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _index(text: str, needle: str) -> int:
    i = text.find(needle)
    assert i >= 0, f"{needle!r} not in output:\n{text}"
    return i


def _assert_held_then_released(before_go: str, full: str) -> None:
    """Nothing devx-owned but the pre-hold line before the release; then all of it,
    in the order it was written, and later writes go straight out."""
    assert "USER held" in before_go and "DUMP IN FILE" in before_go
    assert "line before hold" in before_go
    for held in HELD:
        assert held not in before_go, f"{held!r} written while held:\n{before_go}"
    at = [_index(full, x) for x in ["RELEASING", *HELD, "line after release", "USER after"]]
    assert at == sorted(at), full


def test_held_output_waits_for_release_on_a_tty(tmp_path: Path) -> None:
    script = _write(tmp_path, "gate.py", GATE_SCRIPT)
    r = Repl(script, DEVX_LOG_FORMAT="")
    try:
        r.expect_exact("WAITING")
        before_go = r.log.getvalue()
        r.child.sendline("go")
        r.expect_exact("USER after")
        assert r.finish() == 0, r.log.getvalue()
    finally:
        r.close()
    full = r.log.getvalue()
    _assert_held_then_released(before_go, full)
    # one readable line per record on a terminal, no JSON
    text = full.replace("\r\n", "\n")
    head = r"^\[devx croot pid \d+\] WARNING "
    assert re.search(head + r"devx\.test: held from trio$", text, re.M), text
    assert re.search(head + r"devx\.telemetry: held from thread$", text, re.M), text
    assert re.search(head + r"held from structlog k=1$", text, re.M), text
    assert not re.search(r"^\{", text, re.M), text


def test_json_on_a_tty_when_asked(tmp_path: Path) -> None:
    script = _write(tmp_path, "gate.py", GATE_SCRIPT)
    r = Repl(script, DEVX_LOG_FORMAT="json")
    try:
        r.expect_exact("WAITING")
        r.child.sendline("go")
        r.expect_exact("USER after")
        assert r.finish() == 0, r.log.getvalue()
    finally:
        r.close()
    docs = _json_lines(r.log.getvalue())
    assert [d["event"] for d in docs] == HELD_THEN_RELEASED
    assert all(d["devx.actor.path"] == "croot" for d in docs)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.replace("\r\n", "\n").splitlines() if x.startswith("{")]


def test_json_when_stderr_is_not_a_tty(tmp_path: Path) -> None:
    """stdout and stderr on one pipe, so their order is observable."""
    script = _write(tmp_path, "gate.py", GATE_SCRIPT)
    env = clean_env()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("WAITING"):
                break
        before_go = "".join(seen)
        try:
            proc.stdin.write("go\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the script ended early: its output says why
        full = before_go + proc.stdout.read()
        assert proc.wait(timeout=30) == 0, full
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_held_then_released(before_go, full)
    docs = _json_lines(full)
    assert [d["event"] for d in docs] == HELD_THEN_RELEASED
    assert docs[1]["logger"] == "devx.test" and docs[1]["level"] == "warning"
    assert not re.search(r"^\[devx ", full, re.M), full


def _run(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = _write(tmp_path, "s.py", textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def test_oldest_entries_dropped_over_the_cap(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        """
        from devx.runtime import console
        console.MAX_BYTES = 1000
        console.hold()
        for i in range(100):
            console.write(f"entry {i:03d} " + "x" * 86 + "\\n")  # 100 bytes each
        print("HELD", flush=True)
        console.release()
        console.write("direct\\n")
        """,
    )
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert lines[0] == "HELD", out.stdout
    m = re.fullmatch(r"\[devx\] (\d+) earlier lines dropped while a REPL was live", lines[1])
    assert m, out.stdout
    kept = [int(x.split()[1]) for x in lines[2:-1]]
    assert lines[-1] == "direct"
    assert kept == list(range(100 - len(kept), 100)) and len(kept) == 10, out.stdout
    assert int(m.group(1)) + len(kept) == 100


def test_held_output_is_written_at_exit(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        """
        from devx.runtime import console
        console.hold("a REPL elsewhere")
        console.write("devx text\\n")
        console.write_bytes(b"devx bytes\\n")
        print("USER last", flush=True)
        """,
    )
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines() == ["USER last", "devx text", "devx bytes"]


def test_concurrent_writers_and_signal_handler_lose_nothing(tmp_path: Path) -> None:
    """Threads write while the main thread opens and closes the gate and a signal
    handler writes and holds on it: every line comes out once, each writer's lines
    in order, and nothing deadlocks."""
    out = _run(
        tmp_path,
        """
        import itertools, signal, sys, threading
        from devx.runtime import console

        N, T = 400, 4
        numbers = itertools.count()  # next() is atomic: the handler may nest in itself

        def on_alarm(signum, frame):
            n = next(numbers)
            console.hold()
            console.write(f"sig {n}\\n")

        def writer(t):
            for i in range(N):
                console.write(f"t{t} {i}\\n")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(T)]
        for th in threads:
            th.start()
        while any(th.is_alive() for th in threads):
            console.hold()
            console.write("main\\n")
            console.release()
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # one already due runs no handler
        console.release()
        sys.stdout.flush()
        console.write_bytes(f"SIGNALS {next(numbers)}\\n".encode())
        """,
    )
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert lines[-1].startswith("SIGNALS "), lines[-5:]
    for t in range(4):
        mine = [x for x in lines if x.startswith(f"t{t} ")]
        assert mine == [f"t{t} {i}" for i in range(400)]
    sigs = sorted(int(x.split()[1]) for x in lines if x.startswith("sig "))
    assert sigs == list(range(int(lines[-1].split()[1])))  # each once (nested: any order)


def _wait_for_dump(path: str, pid: int, timeout: float = 20.0, after: int = 0) -> str:
    """The dump of ``pid`` once its end line is in its log file, past the first
    ``after`` characters (a log left by an earlier process with the same pid)."""
    deadline = time.monotonic() + timeout
    end = reg.end_line(pid)
    while time.monotonic() < deadline:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            text = ""
        if end in text[after:]:
            return text
        time.sleep(0.02)
    raise AssertionError(f"no dump in {path} within {timeout} s")


def test_dump_of_the_repl_process_says_stopped_in_a_repl() -> None:
    """SIGUSR1 to a root sitting at its (Pdb+) prompt: the dump reaches the /tmp log
    at once and says the loop is stopped in a REPL, not blocked."""
    r = Repl("root_pause.py", DEVX_ENABLE_STACKSCOPE="1")
    pid = r.child.pid
    path = reg.log_path(pid)
    with_old = Path(path).read_text() if os.path.exists(path) else ""
    try:
        r.prompt()
        r.wait_reading()  # the REPL reads its input (see Repl.wait_reading)
        os.kill(pid, signal.SIGUSR1)
        text = _wait_for_dump(path, pid, after=len(with_old))[len(with_old) :]
        assert "the trio loop is stopped in a REPL" in text, text
        assert "is blocked" not in text, text
        r.child.sendline("c")
        r.expect_exact("root resumed, y=2")
        assert r.finish() == 0, r.log.getvalue()
    finally:
        r.close()
        if not with_old and os.path.exists(path):  # ours alone: leave no log behind
            os.unlink(path)
