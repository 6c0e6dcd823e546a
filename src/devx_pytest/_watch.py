"""The hang watch behind the pytest plugin: one daemon thread per session that waits
for the armed test's deadline, then dumps, reports and tears down the trees the
test started. Plain threads, files and signals: it never runs on a trio loop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Hang:
    """One armed test."""

    nodeid: str
    timeout: float
    tag: str
    deadline: float
    fired: bool = False
    running: bool = True  # the test's call has not returned yet
    sigint_sent: bool = False
    summary: str = ""
    where: str = ""
    dump_dir: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    def failure(self) -> str:
        return f"hung after {self.timeout:g} s: {self.where}\n{self.summary}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "test"


class Watch:
    def __init__(self, dump_dir: str, shown_dir: str | None = None) -> None:
        self.dump_dir = dump_dir  # absolute
        self.shown_dir = shown_dir  # the relative path the user gave, None: absolute
        self._cond = threading.Condition()
        self._armed: Hang | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._saved: dict[str, str | None] = {}
        from devx.core.settings import var

        self._env = (var("enable_stackscope"), var("hang_tag"), var("stack_dump_terminal"))

    # --- the test's side (main thread) ---------------------------------------------

    def arm(self, nodeid: str, timeout: float) -> Hang:
        enable, tag_var, terminal = self._env
        hang = Hang(nodeid, timeout, uuid.uuid4().hex, time.monotonic() + timeout)
        self._saved = {k: os.environ.get(k) for k in self._env}
        os.environ[enable] = "1"
        os.environ[tag_var] = hang.tag
        os.environ[terminal] = "0"  # dumps go to files and the report, not captured stderr
        with self._cond:
            self._armed = hang
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="devx-hang-watch")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify_all()
        return hang

    def disarm(self, hang: Hang, *, interrupted: bool) -> None:
        while True:
            try:
                with self._cond:
                    hang.running = False
                    if self._armed is hang:
                        self._armed = None
                break
            except KeyboardInterrupt:  # ours, sent just as the test returned
                if not hang.fired:
                    raise
                interrupted = True
        for key, val in self._saved.items():
            if val is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = val
        if not hang.fired:
            return
        while True:  # the watch finishes tearing down; a late SIGINT of ours lands here
            try:
                hang.done.wait()
                if hang.sigint_sent and not interrupted:
                    _let_pending_signals_run()
                break
            except KeyboardInterrupt:
                if not hang.sigint_sent:
                    raise
                interrupted = True

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    # --- the watch thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    hang = self._armed
                    if hang is not None:
                        left = hang.deadline - time.monotonic()
                        if left <= 0 and _repl_live(hang.tag):
                            # a REPL of the test's trees holds the terminal: the user's
                            # time, not the test's (with -s, or `devx attach`); the clock
                            # starts again once it is over (the lock files are polled)
                            hang.deadline = time.monotonic() + hang.timeout
                            self._cond.wait(REPL_POLL_S)
                            continue
                        if left <= 0:
                            hang.fired = True
                            self._armed = None
                            break
                        self._cond.wait(left)
                    else:
                        self._cond.wait()
            try:
                self._handle(hang)
            except Exception as exc:  # never leave the test waiting on us
                hang.summary += f"devx: the hang watch failed: {exc!r}\n"
            finally:
                hang.done.set()

    def _handle(self, hang: Hang) -> None:
        from devx.core import settings
        from devx.debug import stack

        unattended = _unattended(hang.tag)  # (before the dumps: the hold is as it fired)
        entries = stack.entries()
        mine = [e for e in entries if e.tag == hang.tag]
        lines: list[str] = []
        if mine:
            # how long the dumps may take to arrive (DEVX_HANG_DUMP_WAIT)
            dump_wait = settings.current().hang_dump_wait
            res = stack.collect(mine, entries, dump_wait)
            outdir = hang.dump_dir = os.path.join(self.dump_dir, _safe(hang.nodeid))
            os.makedirs(outdir, exist_ok=True)
            used: set[str] = set()
            for e, text in res.got:
                stem = _safe((e.path or e.name).replace("/", "."))
                if stem in used:
                    stem = f"{stem}-{e.pid}"
                used.add(stem)
                with open(os.path.join(outdir, f"{stem}.txt"), "w", encoding="utf-8") as f:
                    f.write(text)
            lines = stack.merge_briefs(res.texts)
            lines += [f"{e.label}  no dump within {dump_wait:g} s" for e in res.missing]
            lines += [f"devx: {p}" for p in res.problems]
            with open(os.path.join(outdir, "summary.txt"), "w", encoding="utf-8") as f:
                f.write("".join(f"{x}\n" for x in lines))
            # a relative --devx-dump-dir is shown as given (`.devx-dumps/<test id>/`),
            # where relpath of the absolute one never was (the dir is always absolute)
            shown = os.path.join(self.shown_dir, _safe(hang.nodeid)) if self.shown_dir else outdir
            hang.where = (
                f"{len(res.got)} devx actor(s) of the trees it started dumped (every trio task "
                f"and thread) to {shown}{os.sep}"
            )
        else:
            hang.where = "no devx actor tree it started was running (nothing to dump)"
        hang.summary = "".join(unattended) + "".join(f"{x}\n" for x in lines)

        # interrupt the test as ctrl-c would (trio cancels an in-process tree cleanly)
        main = threading.main_thread().ident
        with self._cond:
            if hang.running and main is not None:
                signal.pthread_kill(main, signal.SIGINT)
                hang.sigint_sent = True
        me = os.getpid()
        for root in stack.topmost(mine, entries):
            if root.pid != me:
                with contextlib.suppress(OSError):
                    os.kill(root.pid, signal.SIGINT)
        # how long the trees get after the interrupt (devx's own cancel grace, then
        # SIGTERM, fits in it) before SIGKILL (DEVX_HANG_TEARDOWN_GRACE)
        grace = settings.current().hang_teardown_grace
        left = _wait_gone(hang.tag, me, grace)
        for e in left:
            with contextlib.suppress(OSError):
                os.kill(e.pid, signal.SIGKILL)
        if left:
            hang.summary += "".join(
                f"devx: {e.label} still running {grace:g} s after the interrupt: killed\n"
                for e in left
            )


REPL_POLL_S = 0.25


def _repl_live(tag: str) -> bool:
    """Whether a person can be at a REPL of a tree the test started (a root
    registered with ``tag``): its terminal is held (a REPL is open, or a step of one
    runs) and, when the tree's REPLs wait for `devx attach` (no terminal), a client
    is attached. A REPL waiting for a client that never comes is nobody's time: it
    does not hold the clock (a CI job with ``DEVX_ATTACH=1`` would hang for good).
    Read from the roots' lock files, as `devx ps` does."""
    try:
        return any(not t.attach or _attached(t) for t in _held(tag))
    except Exception:  # never keep the watch from firing
        return False


def _held(tag: str) -> list[Any]:
    """The lock files of the test's trees whose terminal is held."""
    from devx.debug import lock_file, stack

    roots = {e.pid for e in stack.entries() if e.tag == tag and e.is_root}
    if not roots:
        return []
    return [t for t in lock_file.trees() if t.pid in roots and _holds(t)]


def _holds(tree: Any) -> bool:
    return bool(tree.state.hold_id != 0)


def _attached(tree: Any) -> bool:
    from devx.debug.attach import attached_client

    return attached_client(tree.root_uuid) is not None


def _unattended(tag: str) -> list[str]:
    """What to say about REPLs of the test's trees that waited for `devx attach`
    with nobody attached when the clock fired."""
    out = []
    with contextlib.suppress(Exception):
        for t in _held(tag):
            if not t.attach or _attached(t):
                continue
            h = t.state.holder
            who = f"{h.path}'s REPL ({h.reason} at {h.where})" if h is not None else "a REPL"
            out.append(
                f"devx: {who} was waiting for `devx attach` with nobody attached "
                f"(DEVX_ATTACH=1, no terminal); the hang clock stops only while a client "
                f"is attached: `devx attach {t.pid}` from a terminal of yours while the "
                f"test runs, or run it with `pytest -s` on a terminal\n"
            )
    return out


def _wait_gone(tag: str, me: int, grace: float) -> list[Any]:
    """Wait until no process registered with ``tag`` (other than this one) is alive;
    return those still alive after ``grace`` seconds."""
    from devx.debug import stack

    deadline = time.monotonic() + grace
    while True:
        left = [e for e in stack.entries() if e.tag == tag and e.pid != me]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)  # processes exiting: polled, no event to wait on


def _let_pending_signals_run() -> None:
    """Run a few bytecodes so a SIGINT sent just as the test returned is handled
    here (and caught by the caller), not later in pytest."""
    for _ in range(100):
        pass
