"""A child's helper threads (its parent's watch, its telemetry writer) end before its
process does (devx.core.threads): the process's last thread is the one that exits, so
the kernel releases its memory on that thread's CPU instead of in a helper woken by the
exit's kill, which the scheduler often puts behind the parent's own teardown."""

from __future__ import annotations

import threading

import pytest
import trio

import devx
import helpers_end_fns as fns
from conftest import run_script, scaled, wait_until
from devx.core import threads
from devx.telemetry import file_sink
from devx.telemetry._appendfile import AppendFile

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("method", ["subprocess", "forkserver"])
def test_a_childs_helper_threads_have_ended_when_it_exits(tmp_path, method):
    """The child's lifeline watch and its telemetry writer (started: the child lived
    past its linger) are asked to end at its exit and are gone before it exits; a
    helper thread the child's code registered is asked and waited for too (it reports;
    before: every helper was killed by the exit, so the report never came)."""
    report = tmp_path / "report"

    async def tree() -> int:
        async with devx.open_nursery(spawn_method=method) as an:
            portal = await an.start_actor("a", enable_modules=["helpers_end_fns"])
            await portal.run(fns.wait_for_thread, name="devx-telemetry-file")
            await portal.run(fns.wait_for_thread, name="devx-lifeline")
            await portal.run(fns.register_a_helper_that_reports, path=str(report))
            return portal.channel.peer_pid

    pid = trio.run(tree)
    assert report.read_text() == f"{pid} alive="


def test_the_lifeline_watch_ends_when_asked():
    """In a process of its own (the watch is per process): the watch thread of a live
    parent ends at the ask, and its SIGTERM pipe stays writable for a late handler."""
    code = """
import os, threading
from devx.core import threads
from devx.runtime import lifeline
t = lifeline.start(os.getppid(), path="t", grace=lambda: 1.0, cancel=lambda why: None,
                   kill_children=lambda: None)
assert t.is_alive()
threads.end_helpers(timeout=30)
print("alive" if t.is_alive() else "ended", flush=True)
"""
    out = run_script("-c", code, timeout=scaled(20))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ended\n"


def _sink(tmp_path) -> file_sink.FileSink:
    return file_sink.FileSink(AppendFile(str(tmp_path / "t.jsonl")), resource_attrs={}, lineage={})


def test_a_closed_sinks_writer_ends_when_asked(tmp_path):
    sink = _sink(tmp_path)
    sink.start_writer()
    writer = sink._thread
    assert writer is not None and writer.is_alive()
    assert sink.shutdown(scaled(5))
    threads.end_helpers(timeout=scaled(5))
    assert not writer.is_alive()


def test_a_closed_sinks_lingering_writer_is_woken_to_end(tmp_path, monkeypatch):
    """A writer in its linger (a line written lately: it waits for the next) when the
    sink is shut down is not woken by the shutdown (no one waits on it unbounded): the
    ask wakes it, or it would end only at its linger's end (here an hour; before: the
    join gave up, the writer still lingering)."""
    monkeypatch.setattr(file_sink, "LINGER", 3600.0)
    sink = _sink(tmp_path)
    sink.start_writer()
    writer = sink._thread
    assert writer is not None

    def blocked(n: int) -> bool:
        with sink._cond:
            return sink._blocked == n

    wait_until(lambda: blocked(1), scaled(10), "the writer idle")
    sink.linger()
    # it left its idle wait (under the lock, which it keeps until its linger's wait)
    wait_until(lambda: blocked(0), scaled(10), "the writer lingering")
    assert sink.shutdown(scaled(5))
    assert writer.is_alive()  # the shutdown left it lingering
    threads.end_helpers(timeout=scaled(5))
    assert not writer.is_alive()


def test_an_open_sinks_writer_is_not_asked_to_end(tmp_path):
    """A sink not shut down (records may still come) keeps its writer: the exit does
    not wait for it (it ends with the process, as before)."""
    sink = _sink(tmp_path)
    sink.start_writer()
    writer = sink._thread
    assert writer is not None
    assert sink._end_writer() is False
    threads.end_helpers(timeout=scaled(5))
    assert writer.is_alive()
    assert sink.shutdown(scaled(5))
    assert sink._end_writer() is True
    writer.join(scaled(20))
    assert not writer.is_alive()


def test_a_thread_that_says_it_will_not_end_is_not_waited_for():
    stop = threading.Event()
    t = threads.start_thread(stop.wait, "test-busy-helper")
    threads.end_before_exit(t, lambda: False)
    threads.end_helpers(timeout=scaled(5))
    assert t.is_alive()
    stop.set()
    t.join()
