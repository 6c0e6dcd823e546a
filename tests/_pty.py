"""Driving examples on a real pseudo-terminal (pexpect), the way a person would:
shared by the REPL tests."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROMPT = "(Pdb+) "
TIMEOUT = 20


def banner(kind: str, name: str, path: str) -> str:
    return rf">>> devx {kind} in actor '{name}' \(path {re.escape(path)}, pid \d+\)"


class Repl:
    """An example running on a real PTY, with a transcript for failure messages.
    ``script`` is relative to examples/debugging/ unless absolute."""

    def __init__(self, script: str | Path, *args: str, **extra_env: str):
        self.log = io.StringIO()
        env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm", **extra_env}
        if "PYTHONBREAKPOINT" not in extra_env:
            env.pop("PYTHONBREAKPOINT", None)
        self.child = pexpect.spawn(
            sys.executable,
            [str(EXAMPLES / "debugging" / script), *args],
            env=env,
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(50, 200),
        )
        self.child.logfile_read = self.log

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            got = type(exc).__name__
            raise AssertionError(
                f"expected {pattern!r}, got {got}; transcript:\n{self.log.getvalue()}"
            ) from None
        return self.child.match

    def expect_exact(self, text: str, timeout: float = TIMEOUT) -> None:
        self.expect(re.escape(text), timeout)

    def saw(self, text: str, timeout: float = TIMEOUT) -> None:
        """``text`` shows up, before or after what was already matched: for lines of
        other processes whose order against this REPL's output is not defined."""
        if text in self.log.getvalue():
            return
        self.expect_exact(text, timeout)

    def human_pause(self) -> None:
        """Let the REPL settle into reading its input, as a person typing would.
        A signal landing between readline printing the prompt and its select() is
        only handled once input arrives (a CPython readline race, microseconds
        wide): ctrl-c sent by a program the instant the prompt shows can hit it."""
        time.sleep(0.2)

    def prompt(self) -> str:
        """Wait for the next prompt; returns what was printed before it."""
        self.expect_exact(PROMPT)
        return self.child.before

    def cmd(self, line: str) -> str:
        """Send a command and return its output (up to the next prompt)."""
        self.child.sendline(line)
        return self.prompt()

    def assert_quiet(self, pattern: str = ">>> devx", seconds: float = 0.7) -> None:
        """Nothing matching ``pattern`` shows up for a while (a second REPL must
        not start while this one is live)."""
        try:
            self.child.expect(pattern, timeout=seconds)
        except pexpect.TIMEOUT:
            return
        raise AssertionError(
            f"unexpected {pattern!r} while a REPL was live:\n{self.log.getvalue()}"
        )

    def finish(self) -> int:
        self.expect(pexpect.EOF)
        self.child.close()
        return (
            self.child.exitstatus if self.child.exitstatus is not None else -self.child.signalstatus
        )

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


def repl_fixture(base: Path) -> Any:
    """A ``repl`` fixture starting examples under ``base`` on a PTY, ``repl(script,
    *args, **env)``, and closing every one it started when the test ends."""

    @pytest.fixture
    def repl() -> Iterator[Callable[..., Repl]]:
        started: list[Repl] = []

        def start(script: str, *args: str, **env: str) -> Repl:
            r = Repl(base / script, *args, **env)
            started.append(r)
            return r

        yield start
        for r in started:
            r.close()

    return repl
