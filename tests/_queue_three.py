"""The queue for the terminal as examples/debugging/queue_three.py shows it (three
children paused at once): the patterns of its banners and of the ``waiters``
listing, and the steps that bring it to three stopped. Shared by the queue and
switch tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from _pty import banner
from conftest import scaled, wait_until

AT = r"pause at queue_three\.py:19 in pause_here\(\)"
WAITER = r"(\d)\. root/(p\d): " + AT + r" \(waiting \d+\.\d s\)"
ANY_BANNER = banner("PAUSE", r"(?P<name>p\d)", "root/p0").replace("root/p0", r"root/p\d")


def waiters_listed(text: str) -> list[str]:
    return [m.group(2) for m in re.finditer(WAITER, text)]


def both_waiting(r: Any) -> str:
    """Ask ``waiters`` until the two other children are queued; its last output."""
    seen: dict[str, str] = {}

    def listed() -> bool:
        seen["out"] = r.cmd("waiters")
        return len(waiters_listed(seen["out"])) == 2

    wait_until(listed, scaled(20), "both other children in the queue")
    return seen["out"]


def three_stopped(r: Any) -> tuple[str, list[str]]:
    """The first holder's name and the two waiters, in the order `waiters` lists."""
    first = r.expect(ANY_BANNER).group("name")
    r.prompt()
    return first, waiters_listed(both_waiting(r))


def last_in_line_ends_the_run(r: Any, last: str) -> None:
    """``c`` in the REPL on screen: ``last``, the one left in line, gets the terminal
    (its banner and prompt), and its own ``c`` lets the program end with its results."""
    r.child.sendline("c")
    assert r.expect(ANY_BANNER).group("name") == last
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("results [1, 3, 5]")


def devx_ps(runtime_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``devx ps`` from another process, over the private registry ``runtime_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "devx", "ps", *args],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        env={**os.environ, "DEVX_RUNTIME_DIR": str(runtime_dir)},
    )
