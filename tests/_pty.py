"""Driving examples on a real pseudo-terminal (pexpect), the way a person would:
shared by the REPL tests."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from conftest import blocked_in, scaled, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROMPT = "(Pdb+) "
TIMEOUT = scaled(10)


def banner(kind: str, name: str, path: str) -> str:
    """A REPL's banner; the pid of the actor it is in is the group ``pid``."""
    return rf">>> devx {kind} in actor '{name}' \(path {re.escape(path)}, pid (?P<pid>\d+)\)"


def reading_terminal(pid: int) -> bool | None:
    """Whether a thread of ``pid`` is blocked reading the terminal: readline's select
    on fd 0 alone, a poll of one fd, or a plain read of fd 0 (None: cannot tell)."""
    threads = blocked_in(pid)
    if threads is None:
        return None
    for name, args in threads.values():
        if name in ("select", "pselect6") and args[:1] == ["0x1"]:
            return True
        if name in ("poll", "ppoll") and args[1:2] == ["0x1"]:
            return True
        if name == "read" and args[:1] == ["0x0"]:
            return True
    return False


def stops_at_banner_line(out: str, source: str) -> str:
    """Check that a new REPL stopped on the very line its banner names (``...: path:N
    in fn()``), showing ``source`` there, as on every supported Python. ``out`` is
    what was printed from the banner on to the first prompt (the location ends its
    first line, or has a line of its own when that would be too wide); returns
    ``path(N)fn()``."""
    named = re.search(r"(?:: |\n\s*at )(\S+):(\d+) in (\w+)\(\)", out)
    stop = re.search(r"^> (\S+)\((\d+)\)(\w+)\(\)\r?\n-> (.*)$", out, re.M)
    assert named and stop, f"no banner location or no stop line in:\n{out}"
    # the banner names the file, pdb's stop line gives its whole path
    assert (Path(named.group(1)).name, *named.groups()[1:]) == (
        Path(stop.group(1)).name,
        *stop.groups()[1:3],
    ), f"the banner and the stop disagree:\n{out}"
    shown = "-> " + stop.group(4).strip()
    assert source in shown, f"stopped at {shown!r}, not at {source!r}"
    path, line, fn = named.groups()
    return f"{Path(path).name}({line}){fn}()"


class Repl:
    """An example running on a real PTY, with a transcript for failure messages.
    ``script`` is relative to examples/debugging/ unless absolute."""

    def __init__(
        self,
        script: str | Path,
        *args: str,
        module: str = "",
        dimensions: tuple[int, int] = (50, 200),
        python_flags: tuple[str, ...] = (),
        **extra_env: str,
    ) -> None:
        """``module``: run ``python -m module script *args`` instead (``devx attach``);
        ``dimensions``: the PTY's (rows, columns); ``python_flags``: the interpreter's
        options (``-S``), before the script."""
        self.log = io.StringIO()
        env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm", **extra_env}
        if "PYTHONBREAKPOINT" not in extra_env:
            env.pop("PYTHONBREAKPOINT", None)
        for var in ("COLUMNS", "LINES"):  # the PTY's own size counts, not the caller's
            if var not in extra_env:
                env.pop(var, None)
        self.child = pexpect.spawn(
            sys.executable,
            [*python_flags, "-m", module, str(script), *args]
            if module
            else [*python_flags, str(EXAMPLES / "debugging" / script), *args],
            env=env,
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=dimensions,
        )
        self.child.logfile_read = self.log
        self.repl_pid: int | None = None  # the actor of the last banner matched

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        try:
            self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            got = type(exc).__name__
            raise AssertionError(
                f"expected {pattern!r}, got {got}; transcript:\n{self.log.getvalue()}"
            ) from None
        m = self.child.match
        if isinstance(m, re.Match) and "pid" in m.re.groupindex and m.group("pid"):
            self.repl_pid = int(m.group("pid"))
        return m

    def expect_exact(self, text: str, timeout: float = TIMEOUT) -> None:
        self.expect(re.escape(text), timeout)

    def saw(self, text: str, timeout: float = TIMEOUT) -> None:
        """``text`` shows up, before or after what was already matched: for lines of
        other processes whose order against this REPL's output is not defined."""
        if text in self.log.getvalue():
            return
        self.expect_exact(text, timeout)

    def wait_reading(self, pid: int | None = None) -> None:
        """Wait until the REPL (in ``pid``, default: the actor of the last banner) is
        blocked reading the terminal, as it is when a person types. A signal landing
        between readline printing the prompt and its select() is only handled once
        input arrives (a CPython readline race): ctrl-c sent by a program the instant
        the prompt shows can hit it, the more so on a busy machine."""
        pid = pid or self.repl_pid or self.child.pid
        if reading_terminal(pid) is None:  # a sleep would only hide the race
            pytest.skip(
                f"cannot see whether pid {pid} reads the terminal: /proc/<pid>/task/*/syscall "
                f"is unreadable here or the syscall numbers of {os.uname().machine} are unknown"
            )
        wait_until(lambda: reading_terminal(pid), TIMEOUT, f"pid {pid} reading the terminal")

    def human_pause(self) -> None:
        """The old name of :meth:`wait_reading` (a fixed pause without a banner seen)."""
        if self.repl_pid is None:
            time.sleep(0.5)
        else:
            self.wait_reading()

    def prompt(self) -> str:
        """Wait for the next prompt; returns what was printed before it."""
        self.expect_exact(PROMPT)
        return self.child.before

    def cmd(self, line: str) -> str:
        """Send a command and return its output (up to the next prompt)."""
        self.child.sendline(line)
        return self.prompt()

    def assert_quiet(self, pattern: str = ">>> devx", seconds: float = 0.7) -> None:
        """Nothing matching ``pattern`` shows up for a while (a second REPL must not
        start while this one is live). A window can only miss a late event: call it
        once a positive event proved it means something (the competitors are known
        to be waiting, e.g. their lock requests are on record)."""
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


def lock_requests(trace_file: Path) -> list[dict[str, Any]]:
    """Attributes of the TTY lock requests on record in a telemetry file (each actor
    exports its own while it waits, so they show up while a REPL is live)."""
    from devx.telemetry.readback import load_logs

    if not trace_file.exists():
        return []
    return [
        log["attributes"]
        for log in load_logs(trace_file, strict=False)
        if log["event_name"] == "devx.tty_lock.requested"
    ]


# no line devx writes to the terminal in a banner or hint is wider than this
WIDTH = 100


def devx_lines(text: str) -> list[str]:
    """The lines devx wrote in a transcript: each banner (from ``>>> devx`` up to
    pdb's stop line), its indented lines, and ``[devx]`` hints with theirs."""
    out: list[str] = []
    inside = False
    for line in text.replace("\r", "").split("\n"):
        if line.startswith((">>> devx", "[devx]")):
            inside = True
        elif not (inside and line.startswith("    ")):
            inside = False
        if inside:
            out.append(line)
    return out


def assert_fits(text: str, width: int = WIDTH) -> None:
    """Every line devx wrote in ``text`` fits ``width`` columns."""
    wide = [line for line in devx_lines(text) if len(line) > width]
    assert not wide, f"devx lines wider than {width} columns:\n" + "\n".join(wide)


def kill_holder(r: Repl) -> int:
    """examples/debugging/holder_killed.py: SIGKILL the lock holder once its REPL is
    reading the terminal; returns its pid."""
    r.expect(banner("PAUSE", "doomed", "root/doomed"))
    r.prompt()
    pid = r.repl_pid
    assert pid is not None
    r.wait_reading()
    os.kill(pid, signal.SIGKILL)
    return pid


def repl_fixture(base: Path) -> Any:
    """A ``repl`` fixture starting examples under ``base`` on a PTY, ``repl(script,
    *args, **env)``, and closing every one it started when the test ends."""

    @pytest.fixture
    def repl() -> Iterator[Callable[..., Repl]]:
        started: list[Repl] = []

        def start(
            script: str,
            *args: str,
            dimensions: tuple[int, int] = (50, 200),
            python_flags: tuple[str, ...] = (),
            **env: str,
        ) -> Repl:
            r = Repl(base / script, *args, dimensions=dimensions, python_flags=python_flags, **env)
            started.append(r)
            return r

        yield start
        for r in started:
            r.close()

    return repl
