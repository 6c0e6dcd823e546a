"""pytest plugin (entry point ``pytest11: devx``): a test that runs past
``--devx-hang-timeout`` gets every devx actor tree it started dumped (every trio task
and thread of every actor, one file per actor under ``--devx-dump-dir``), and it fails
with "hung after N s" and a one-line-per-task summary (in the terminal and in JUnit
XML); then its trees are torn down. ``-p no:devx`` turns it off.

Its own package, not ``devx.pytest_plugin``: pytest imports every plugin at start-up,
and ``import devx`` brings in trio; here nothing of devx is imported until a test
runs with a hang timeout. A test without one costs a dict lookup (no thread, no
environment change); with one, two environment variables and arming a timer that an
already running thread waits on.

How a tree started by the test is found: while the test runs, ``DEVX_ENABLE_STACKSCOPE=1``
and ``DEVX_HANG_TAG=<random>`` are in the environment, so every actor it starts, in
this process or in a subprocess, enables its dump handler and registers with the tag
(see :mod:`devx.debug.stack.registry`). The watch thread (:mod:`._watch`) dumps the
tagged processes, then interrupts the test like ctrl-c (a SIGINT to the main thread:
trio turns it into a clean cancellation of an in-process tree), SIGINTs tagged roots
in other processes, and SIGKILLs whatever tagged process is left after a grace period.

While pytest runs, devx's own modules are imported as plain Python, not
assertion-rewritten (:mod:`._plain` says why: CPython 3.11's AST race with devx's
threads).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from . import _plain

_plain.install()

_MARK = "devx_hang_timeout"
_WATCH = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devx", "devx: dump hung actor trees")
    group.addoption(
        "--devx-hang-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a test running longer gets every devx actor tree it started dumped "
        "(tasks and threads of every actor), then fails; 0 = off (ini: devx_hang_timeout; "
        "per test: @pytest.mark.devx_hang_timeout(s))",
    )
    group.addoption(
        "--devx-dump-dir",
        default=None,
        metavar="DIR",
        help="where hung tests' dumps go, one directory per test, one file per actor "
        "(default: .devx-dumps; ini: devx_dump_dir)",
    )
    parser.addini("devx_hang_timeout", "devx: hang timeout in seconds (0 = off)", default="0")
    parser.addini("devx_dump_dir", "devx: directory for hung tests' dumps", default=".devx-dumps")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARK}(seconds): dump this test's devx actor trees and fail it when it runs "
        "longer than `seconds` (0 = off); overrides --devx-hang-timeout",
    )


def _timeout_for(item: pytest.Item) -> float:
    mark = item.get_closest_marker(_MARK)
    if mark is not None:
        value = mark.args[0] if mark.args else mark.kwargs.get("seconds", 0)
    else:
        value = item.config.getoption("devx_hang_timeout")
        if value is None:
            value = item.config.getini("devx_hang_timeout") or 0
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(
            f"devx: hang timeout for {item.nodeid} must be a number of seconds, got {value!r}"
        ) from None
    return max(seconds, 0.0)


def _dump_dir(config: pytest.Config) -> tuple[str, str | None]:
    """Where the dumps go (absolute: a test may chdir), and how to show it: as given
    when relative (to where pytest was run), else None (the absolute path)."""
    where = str(config.getoption("devx_dump_dir") or config.getini("devx_dump_dir"))
    shown = None if os.path.isabs(where) else os.path.normpath(where)
    return os.path.normpath(os.path.join(str(config.invocation_params.dir), where)), shown


def _get_watch(config: pytest.Config) -> Any:
    watch = config.stash.get(_WATCH, None)
    if watch is None:
        from ._watch import Watch

        watch = config.stash[_WATCH] = Watch(*_dump_dir(config))
    return watch


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    timeout = _timeout_for(item)
    if not timeout:
        return (yield)
    watch = _get_watch(item.config)
    hang = watch.arm(item.nodeid, timeout)
    caught: BaseException | None = None
    try:
        return (yield)
    except BaseException as exc:
        caught = exc
        raise
    finally:
        ours = _is_interrupt(caught)
        watch.disarm(hang, interrupted=ours)
        if hang.fired:
            if hang.dump_dir:
                item.user_properties.append(("devx_hang_dumps", hang.dump_dir))
            raise pytest.fail.Exception(hang.failure(), pytrace=False) from (
                None if ours else caught
            )


def _is_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is (or, from a trio nursery, is a group holding) the
    KeyboardInterrupt our SIGINT caused."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, BaseExceptionGroup):
        match, _rest = exc.split(KeyboardInterrupt)
        return match is not None
    return False


def pytest_unconfigure(config: pytest.Config) -> None:
    watch = config.stash.get(_WATCH, None)
    if watch is not None:
        watch.stop()
