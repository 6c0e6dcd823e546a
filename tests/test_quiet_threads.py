"""devx's helper threads never take the process's signals (devx.core.threads): a
ctrl-c, SIGTERM or SIGUSR1 must reach the main thread (a REPL's ``input()``, the
trio loop), while the synchronous faults stay with the thread that causes them."""

from __future__ import annotations

import signal
import threading

from devx.core import threads


def test_a_helper_thread_blocks_every_signal_but_the_faults() -> None:
    seen: dict[str, set[signal.Signals]] = {}

    def look() -> None:
        seen["mask"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    threads.start_thread(look, "devx-test-quiet").join()
    mask = seen["mask"]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD, signal.SIGWINCH):
        assert sig in mask, sig
    for sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGABRT):
        assert sig not in mask, sig
    # the starting thread's own mask is as it was
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_threads_started_from_a_quiet_thread_inherit_its_mask() -> None:
    seen: dict[str, set[signal.Signals]] = {}

    def inner() -> None:
        seen["inner"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])

    def outer() -> None:
        t = threading.Thread(target=inner)
        t.start()
        t.join()

    threads.start_thread(outer, "devx-test-outer").join()
    assert signal.SIGINT in seen["inner"] and signal.SIGSEGV not in seen["inner"]
