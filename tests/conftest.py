"""Shared fixtures and settings of the suite.

- Every test must leave no devx actor process behind (``no_orphans``).
- Every temporary file of the run, the telemetry files devx writes by default
  included, lands in one private directory per session (``TMPDIR``), never in the
  user's real ``/tmp/devx-telemetry-<uid>/`` where ``devx timeline`` would take a
  test's file for the newest tree; the stack-dump registry (``DEVX_RUNTIME_DIR``)
  and the Unix sockets of ``transport="uds"`` trees (``XDG_RUNTIME_DIR``) likewise.
  Removed when the session passes, kept (and named) when not. (Stack dumps still go
  to ``/tmp/devx-stackscope-<pid>.log``, a fixed path: the stack tests remove theirs.)
- Time: tests wait for events (a line printed, a record in a file, a pid gone), never
  for the clock. Every bound on how long such a wait may take is ``scaled(seconds)``:
  seconds an idle machine needs with some margin, times ``SLOWDOWN``
  (``DEVX_TEST_SLOWDOWN``, default 3: a shared 2-core CI box with both cores busy).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SLOWDOWN = float(os.environ.get("DEVX_TEST_SLOWDOWN") or 3.0)


def scaled(seconds: float) -> float:
    """A deadline for something an idle machine does in ``seconds``."""
    return seconds * SLOWDOWN


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's (`make test` runs the suite on its workers): declared here too, for
    # a run without it (-p no:xdist)
    config.addinivalue_line(
        "markers", "xdist_group(name): tests that one xdist worker runs, in their order"
    )


_DEFAULT_SLOWDOWN = 3.0  # what the suite's pytest.mark.timeout values were written for


# Files whose tests wait out timeouts by design (the pytest plugin's hang clock: ~30 s
# a test): on xdist workers (`make test`) they go first, so that the workers end
# together instead of one waiting alone for them at the end.
_LONG_WAITS_FIRST = ("test_pytest_plugin.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, the tests of ``_LONG_WAITS_FIRST`` first (every worker sorts
    alike: they must agree on the collection). Then scale every test's pytest-timeout
    (its marker, else the ini default) with DEVX_TEST_SLOWDOWN as ``scaled()`` scales
    the bounds inside it (never below the written value)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.path.name not in _LONG_WAITS_FIRST)
    factor = max(1.0, SLOWDOWN / _DEFAULT_SLOWDOWN)
    if factor == 1.0:
        return
    default = float(config.getini("timeout") or 0)
    for item in items:
        mark = item.get_closest_marker("timeout")
        seconds = float(mark.args[0]) if mark is not None and mark.args else default
        if seconds > 0:
            item.add_marker(pytest.mark.timeout(seconds * factor), append=False)


# the suite's own settings, which every process a test starts keeps (orphan tagging,
# the private runtime directory, the slowdown)
# DEVX_SPAWN_METHOD: the suite runs either way (its default, or =subprocess), scripts too
SUITE_VARS = ("DEVX_TEST_RUN", "DEVX_RUNTIME_DIR", "DEVX_TEST_SLOWDOWN", "DEVX_SPAWN_METHOD")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the developer's settings that change what a
    tree prints or records (every OTEL_ and DEVX_ variable but the suite's own, and the
    terminal size COLUMNS/LINES), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in SUITE_VARS or not k.startswith(("OTEL_", "DEVX_"))
    }
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra)
    return env


def run_script(
    script: str | os.PathLike[str],
    *args: str,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    clean: bool = True,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run a Python script (or ``-c`` code: pass ``"-c", code``) to its end with no
    terminal (stdin at EOF), output captured as text, in :func:`clean_env` (or this
    process's environment with ``clean=False``) plus ``NO_COLOR=1`` and ``env``.
    Bounded by ``timeout`` (default ``scaled(20)``)."""
    base = clean_env() if clean else dict(os.environ)
    return subprocess.run(
        [sys.executable, os.fspath(script), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(20) if timeout is None else timeout,
        cwd=cwd,
        env={**base, "NO_COLOR": "1", **env},
    )


class ProcTree:
    """A script run as a process tree of its own: its own session (so a signal to the
    group reaches every process of it, as a terminal's does), stdout and stderr piped
    and drained by threads (a chatty tree never blocks on a full pipe; a read never
    outlives its deadline). Made by the :func:`proc_tree` fixture, which kills the
    whole group and reaps the root when the test ends, however it ends."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
        self.pid = self.proc.pid
        self._out: list[str] = []
        self._err: list[str] = []
        self._read = 0  # stdout lines handed out by line()
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _drain(self, pipe: Any, into: list[str]) -> None:
        for chunk in pipe:
            with self._cond:
                into.append(chunk)
                self._cond.notify_all()
        pipe.close()
        with self._cond:
            self._cond.notify_all()

    def _fail(self, what: str) -> None:
        pytest.fail(
            f"{what}; exit={self.proc.poll()}\nstdout:\n{''.join(self._out)[-3000:]}"
            f"\nstderr:\n{''.join(self._err)[-3000:]}"
        )

    def line(self, prefix: str = "", timeout: float | None = None) -> str:
        """The next stdout line (without its newline); fails, with the tree's output,
        unless it starts with ``prefix`` within ``timeout`` (default ``scaled(20)``)."""
        deadline = time.monotonic() + (scaled(20) if timeout is None else timeout)
        with self._cond:
            while self._read >= len(self._out):
                left = deadline - time.monotonic()
                if left <= 0 or not self._readers[0].is_alive():
                    self._fail(f"no stdout line starting with {prefix!r}")
                self._cond.wait(min(left, 0.1))
            text = self._out[self._read].rstrip("\n")
            self._read += 1
        if not text.startswith(prefix):
            self._fail(f"stdout line {text!r} does not start with {prefix!r}")
        return text

    def pids(self, timeout: float | None = None) -> list[int]:
        """The pids of the tree's ``PIDS <pid> <pid> ...`` line (the root's first)."""
        return [int(x) for x in self.line("PIDS", timeout).split()[1:]]

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the root process to exit; its return code."""
        try:
            return self.proc.wait(scaled(10) if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self._fail(f"pid {self.pid} still running after {timeout} s")
            raise

    def output(self, timeout: float | None = None) -> tuple[str, str]:
        """Everything the tree wrote to stdout and stderr, once every process holding
        them has gone (end of file on both); fails after ``timeout``."""
        deadline = time.monotonic() + (scaled(10) if timeout is None else timeout)
        for t in self._readers:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                self._fail("the tree's output never ended (a process still holds it)")
        return "".join(self._out), "".join(self._err)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """As ``Popen.communicate``: the root's exit, then all of its output."""
        self.wait(timeout)
        return self.output(timeout)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        """SIGKILL every process still in the tree's group and reap the root."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(scaled(5))
        for t in self._readers:
            t.join(scaled(5))


@pytest.fixture
def proc_tree() -> Iterator[Callable[..., ProcTree]]:
    """``proc_tree(script, *args, cwd=None, **env)``: start a Python script as a
    :class:`ProcTree` in this process's environment plus ``env``; every tree started
    is killed (whole group) and reaped when the test ends."""
    started: list[ProcTree] = []

    def start(
        script: str | os.PathLike[str], *args: str, cwd: str | None = None, **env: str
    ) -> ProcTree:
        tree = ProcTree([sys.executable, os.fspath(script), *args], {**os.environ, **env}, cwd=cwd)
        started.append(tree)
        return tree

    yield start
    for tree in started:
        tree.kill()


async def await_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """:func:`wait_until` inside trio: poll ``pred`` (sync, or async such as a call
    to a child) with a scheduler pass between polls until it returns something true
    (returned); fail after ``timeout``."""
    import inspect

    import trio

    with trio.move_on_after(timeout):
        while True:
            val = pred()
            if inspect.isawaitable(val):
                val = await val
            if val:
                return val
            await trio.sleep(0.01)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def wait_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``pred`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


# syscall numbers the tests look for in /proc/<pid>/task/<tid>/syscall
_SYSCALLS = {
    "x86_64": {
        0: "read",
        7: "poll",
        23: "select",
        35: "nanosleep",
        230: "clock_nanosleep",
        270: "pselect6",
        271: "ppoll",
    },
    "aarch64": {63: "read", 72: "pselect6", 73: "ppoll", 101: "nanosleep", 115: "clock_nanosleep"},
}.get(os.uname().machine, {})


def blocked_in(pid: int) -> dict[int, tuple[str, list[str]]] | None:
    """What each thread of ``pid`` is blocked in: ``{tid: (syscall name, args)}`` (the
    name is the number for syscalls not listed above, "running" when not in one).
    None when the kernel does not tell us (no /proc/<pid>/task/*/syscall access, or
    an architecture whose numbers we do not know)."""
    if not _SYSCALLS:
        return None
    out: dict[int, tuple[str, list[str]]] = {}
    for path in Path(f"/proc/{pid}/task").glob("*/syscall"):
        try:
            fields = path.read_text().split()
        except OSError:
            continue
        if not fields:
            continue
        name = _SYSCALLS.get(int(fields[0]), fields[0]) if fields[0].isdigit() else "running"
        out[int(path.parent.name)] = (name, fields[1:])
    return out or None


# One private temporary directory for the whole session (and every process it starts:
# they inherit the environment). tempfile caches its directory: reset it too.
# (the machine's: an xdist worker starts with TMPDIR at its controller's session
# directory, private, so it is handed down)
_REAL_TMP = os.environ.get("DEVX_TEST_REAL_TMP") or tempfile.gettempdir()
os.environ["DEVX_TEST_REAL_TMP"] = _REAL_TMP
SESSION_TMP = tempfile.mkdtemp(prefix="devx-tests-", dir=_REAL_TMP)
os.environ["TMPDIR"] = SESSION_TMP
for _var in ("TEMP", "TMP"):
    os.environ.pop(_var, None)
tempfile.tempdir = SESSION_TMP
os.environ["DEVX_RUNTIME_DIR"] = os.path.join(SESSION_TMP, "devx-runtime")
os.environ["XDG_RUNTIME_DIR"] = SESSION_TMP  # Unix sockets of transport="uds" trees
os.environ.pop("DEVX_TELEMETRY_FILE", None)  # each test says where its telemetry goes


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:
        shutil.rmtree(SESSION_TMP, ignore_errors=True)
    else:
        print(f"\ndevx tests: temporary files kept in {SESSION_TMP}", file=sys.stderr)


# The ctrl-c tests need SIGINT deliverable. A runner that started us with SIGINT
# ignored (a background job of a shell without job control) would hand SIG_IGN down
# to every process we start, and Python leaves an ignored SIGINT ignored. A handler
# of our own resets to the default across exec, so children get ctrl-c back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Every process this test run starts inherits this tag (actors copy the environment),
# so a concurrent run on the same machine is never mistaken for our orphans.
_RUN_TAG = uuid.uuid4().hex
os.environ["DEVX_TEST_RUN"] = _RUN_TAG
_TAG_BYTES = f"DEVX_TEST_RUN={_RUN_TAG}".encode()


ZYGOTE_NAME = "devx-zygote"  # devx.runtime.zygote.PROCESS_NAME


def _devx_pids(zygotes: bool) -> set[int]:
    pids = set()
    uid = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if b"devx.runtime.child" in cmdline:
                if zygotes:
                    continue
            elif b"devx.runtime.zygote" in cmdline:
                # the fork server and the actors it forked share its command line
                is_zygote = (entry / "comm").read_text().strip() == ZYGOTE_NAME
                if is_zygote != zygotes:
                    continue
            else:
                continue
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if "State:\tZ" not in status and _TAG_BYTES in environ.split(b"\0"):
            pids.add(int(entry.name))
    return pids


def devx_actor_pids() -> set[int]:
    """Pids of live devx child-actor processes started by this test run (any parent),
    spawned or forked by a fork server."""
    return _devx_pids(zygotes=False)


def devx_zygote_pids() -> set[int]:
    """Pids of live fork servers (``spawn_method="forkserver"``) of this test run."""
    return _devx_pids(zygotes=True)


def wait_gone(pids: set[int], timeout: float = scaled(5.0)) -> set[int]:
    """Wait until none of ``pids`` is a live devx actor; return those still alive."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive &= devx_actor_pids()
        if alive:
            time.sleep(0.05)
    return alive


@pytest.fixture(autouse=True)
def no_orphans():
    """Fail a test that leaves child actor processes or fork servers running (and
    kill them)."""
    before, zygotes = devx_actor_pids(), devx_zygote_pids()
    yield
    assert_none_left(before, zygotes)


def assert_none_left(before: set[int], zygotes: set[int]) -> None:
    """No devx actor process or fork server beyond ``before`` and ``zygotes`` (pids
    taken earlier) is left once they had a moment to exit; those left are killed."""
    leftover = wait_gone(devx_actor_pids() - before)
    deadline = time.monotonic() + scaled(5.0)
    while (left_zygotes := devx_zygote_pids() - zygotes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in leftover | left_zygotes:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not leftover, f"orphaned devx actor processes: {sorted(leftover)}"
    assert not left_zygotes, f"fork servers outlived their trees: {sorted(left_zygotes)}"


class _Captured(logging.Handler):
    """Keeps the messages of the records it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def captured_log(name: str) -> Iterator[list[str]]:
    """The messages logger ``name`` (and those under it) logs inside the block,
    whatever other handlers it has."""
    handler = _Captured()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def devx_log():
    """The messages the ``devx`` loggers of this process log during the test."""
    with captured_log("devx") as messages:
        yield messages
