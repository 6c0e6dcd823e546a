"""Helpers for the stack-dump tests (no tests here): run a real process tree in its
own session, read its stdout lines, and always kill the whole group afterwards."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import scaled
from conftest import wait_until as wait_until  # here too for the stack tests
from devx.debug.stack import registry as reg

# The trees of these tests coalesce signals within this window (DEVX_STACK_DUMP_COALESCE),
# wide enough that a burst (two kills in a row, a relay plus a direct signal) falls into
# it on a loaded machine; 0.3 s, the default, does not always.
COALESCE = scaled(0.5)


def past_coalescing_window() -> None:
    """Let the window of the last signal a tree took run out (it is a span of time:
    the one place these tests wait for the clock), so the next one is taken."""
    time.sleep(COALESCE + 0.1)


REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "hang"
PY = sys.executable


class Tree:
    """A process (and its descendants, which share its process group) under test."""

    def __init__(self, argv: list[str], env: dict[str, str], stderr_path: Path):
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb")  # a file, not a pipe: dumps must never block
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_lines(self, pattern: str, count: int, timeout: float) -> list[re.Match[str]]:
        """Block until ``count`` stdout lines match ``pattern``; fail with the output."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in map(rx.search, self.lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and len(found) < count):
                    pytest.fail(
                        f"wanted {count} lines matching {pattern!r}, got {len(found)}; "
                        f"exit={self.proc.poll()} stdout={self.lines!r}\n"
                        f"stderr={self.stderr()[-3000:]}"
                    )
                self._cond.wait(min(left, 0.1))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stderr_with(self, *pids: int, timeout: float | None = None) -> str:
        """stderr once it holds a complete dump of each of ``pids``: a dump's stderr
        copy is written after its log file, so a complete log does not mean it is there."""
        ends = [reg.end_line(pid) for pid in pids]

        def complete() -> str:
            err = self.stderr()
            return err if all(e in err for e in ends) else ""

        return wait_until(
            complete,
            scaled(5) if timeout is None else timeout,
            f"the stderr copy of the dumps of {list(pids)}",
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        self._err.close()


def read_log(pid: int) -> str:
    try:
        return Path(reg.log_path(pid)).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def complete_log(pid: int) -> str:
    """The log of ``pid`` once it holds a complete dump, else ''."""
    text = read_log(pid)
    return text if reg.end_line(pid) in text else ""


def dump_count(pid: int) -> int:
    return read_log(pid).count(reg.BEGIN_MARKER + ":")


class Env:
    """An isolated registry dir plus cleanup of every /tmp log a test touched."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.runtime_dir = tmp_path / "rt"
        self.vars = dict(os.environ)
        self.vars["DEVX_RUNTIME_DIR"] = str(self.runtime_dir)
        self.vars.pop("DEVX_ENABLE_STACKSCOPE", None)
        self.vars["DEVX_STACK_DUMP_COALESCE"] = str(COALESCE)
        self.pids: set[int] = set()
        self.trees: list[Tree] = []

    def start(self, argv: list[str], name: str = "tree") -> Tree:
        tree = Tree(argv, self.vars, self.tmp_path / f"{name}.stderr")
        self.trees.append(tree)
        self.track(tree.pid)
        return tree

    def track(self, *pids: int) -> None:
        """Forget stale logs of these (possibly reused) pids and remove them later.
        A stale log we may not remove (another user's, in sticky /tmp) skips the test:
        devx then writes that pid's dumps to its private fallback, not where the test
        reads them."""
        for pid in pids:
            if pid not in self.pids:
                self.pids.add(pid)
                path = reg.log_path(pid)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except PermissionError as exc:
                    owner = os.lstat(path).st_uid
                    pytest.skip(f"stale {path} of uid {owner} cannot be removed ({exc.strerror})")

    def entries(self) -> list[reg.Entry]:
        old = os.environ.get("DEVX_RUNTIME_DIR")
        os.environ["DEVX_RUNTIME_DIR"] = str(self.runtime_dir)
        try:
            return reg.entries()
        finally:
            if old is None:
                del os.environ["DEVX_RUNTIME_DIR"]
            else:
                os.environ["DEVX_RUNTIME_DIR"] = old

    def close(self) -> None:
        for tree in self.trees:
            tree.kill()
        for pid in self.pids:
            with contextlib.suppress(OSError):
                os.unlink(reg.log_path(pid))


@pytest.fixture
def dump_env(tmp_path: Path) -> Iterator[Env]:
    env = Env(tmp_path)
    try:
        yield env
    finally:
        env.close()


def devx_cli(env: Env, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the ``devx`` command as a user would (a separate process)."""
    return subprocess.run(
        [PY, "-m", "devx.cli", *args],
        env=env.vars,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
