"""Hang-hunting: dump every trio task (stackscope) and every thread of an actor on a
signal, relay the signal down the actor tree, tee each dump to a private /tmp log.

How a dump happens (and why this way):

1. The Python-level signal handler runs in the main thread between bytecodes, even
   while a task blocks the trio loop in a sync call (``time.sleep`` is interrupted,
   runs the handler, resumes). It does only cheap, signal-safe things: relay the
   signal to this actor's live child actors first (fastest fan-out), then ask the trio
   loop to dump via ``TrioToken.run_sync_soon`` (what trio's own signal receiver
   does) and hand the same request to a watchdog thread (``SimpleQueue.put`` is
   reentrant).
2. Normal path: the loop runs the request between task steps, where every task is
   suspended, so the stackscope walk of the whole task tree is consistent.
3. Stuck loop: if the loop has not picked the request up within ``fallback_after``
   seconds and the main thread has not moved since the signal (same frame, same
   bytecode: a sync call), the watchdog thread claims it and writes every thread's
   Python stack from ``sys._current_frames()`` instead, saying the trio tree could
   not be walked (walking it from another thread while the loop runs would race with
   it). A loop that is merely busy or starved of CPU gets ``HARD_FALLBACK_S``.

Exactly one of the two writes each request. Signals within ``COALESCE_S`` of the
previous one (a relay plus a direct ``pkill``) yield a single dump
(``DEVX_STACK_DUMP_COALESCE``, seconds, sets it: tests widen it on a loaded machine).

A signal reaches every actor of a tree at once, so each dump's CPU counts: stackscope's
bytecode analysis is memoized per code object, and ``WARM_AFTER_S`` after enabling the
watchdog thread fills that memo for the frames of the tasks then running, off the loop
(see :mod:`.memo`), so even a first dump walks the tree warm.

Each dump goes to ``/tmp/devx-stackscope-<pid>.log`` (opened O_NOFOLLOW, 0600, ours,
appended; see :mod:`.registry`) and to telemetry as a ``devx.stack_dump`` event
at once, and to stderr through the console gate (:mod:`devx.runtime.console`): while a
REPL is live in the tree the terminal copy waits for its release. A dump of the process
whose REPL stops its trio loop says so (the loop is "stopped in a REPL", not blocked).
While enabled the process is listed in the private registry that ``devx dump`` reads.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

import trio

from ...core import schema, settings
from ...core.threads import start_quiet
from ...runtime import console
from ...runtime.workers import IDLE_NAME
from . import brief as _brief
from . import memo as _memo
from . import registry as _reg

__all__ = [
    "COALESCE_S",
    "actor_lifetime",
    "disable_stack_on_sig",
    "enable_stack_on_sig",
    "env_enabled",
    "format_stack_dump",
    "log_path",
    "stack_on_sig_enabled",
]

log = logging.getLogger("devx.debug.stack")

COALESCE_S = 0.3  # the default of DEVX_STACK_DUMP_COALESCE
DEFAULT_FALLBACK_AFTER = 0.25
HARD_FALLBACK_S = 2.0
WARM_AFTER_S = 1.0  # the watchdog warms the dump path this long after enabling
_TRIO_DIR = os.path.dirname(trio.__file__) + os.sep

log_path = _reg.log_path

_Handler = Callable[[int, FrameType | None], Any] | int | None


def env_enabled() -> bool:
    """Whether ``DEVX_ENABLE_STACKSCOPE`` asks for the handler (the tree's settings)."""
    return settings.current().enable_stackscope


# --- state ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Request:
    """One accepted signal; claimed by exactly one of the trio loop or the watchdog."""

    signum: int
    wall: float
    mono: float
    blocked_task: str | None  # the task that was running when the signal arrived
    sample: tuple[FrameType, int] | None  # the interrupted frame and its position
    relayed: list[int]
    in_trio: bool
    _lock: threading.Lock = field(default_factory=threading.Lock)
    claimed: threading.Event = field(default_factory=threading.Event)
    owner: str | None = None

    def claim(self, who: str) -> bool:
        with self._lock:
            if self.owner is not None:
                return False
            self.owner = who
        self.claimed.set()
        return True


@dataclass(eq=False)
class _Installed:
    sig: int
    prev: _Handler
    fallback_after: float
    token: trio.lowlevel.TrioToken | None
    watchdog: _Watchdog
    actor: Any = None
    registry_file: str | None = None
    last_accept: float = float("-inf")
    coalesce_s: float = COALESCE_S


_state: _Installed | None = None
_atexit_registered = False


def _repl_stops_loop() -> str | None:
    """When a REPL of this process runs on the main thread (a pause or post-mortem in
    a trio task: the loop waits for it), a description of it, else None. Read without
    importing the debugger: no session module loaded means no REPL."""
    mod = sys.modules.get("devx.debug.session")
    live = getattr(mod, "current", None) if mod is not None else None
    pdb = getattr(live, "pdb", None) if live is not None else None
    if pdb is None or not getattr(pdb, "live", True):
        return None
    if getattr(live, "repl_thread", None) != threading.main_thread().ident:
        return None  # a sync pause's REPL in another thread: the loop still runs
    reason = getattr(live, "reason", None)
    return f"{reason} REPL" if reason else "REPL"


def stack_on_sig_enabled() -> bool:
    return _state is not None


# --- enabling --------------------------------------------------------------------------


def enable_stack_on_sig(
    sig: int = signal.SIGUSR1, *, fallback_after: float = DEFAULT_FALLBACK_AFTER
) -> None:
    """Dump this process's trio task tree and threads on ``sig`` and relay ``sig`` to
    its child actors. Call from the main thread, ideally inside ``trio.run`` (then
    the loop's token is captured; outside it only thread stacks can be dumped).

    Tip: ``kill -USR1 <root pid>`` dumps the whole tree; ``devx dump <pattern>``
    does that and prints the dumps merged by tree path."""
    _enable(signal.Signals(sig), fallback_after, actor=None)


def disable_stack_on_sig() -> None:
    """Restore the previous handler, stop the watchdog, leave the registry."""
    _disable(ignore_after=False)


def _main_thread_only() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("enable/disable_stack_on_sig must be called from the main thread")


def _enable(sig: signal.Signals, fallback_after: float, actor: Any) -> None:
    global _state, _atexit_registered
    _main_thread_only()
    if _state is not None and _state.sig != sig:
        _disable(ignore_after=False)
    if actor is None:
        actor = _lookup_actor()
    # import the heavy part now so the first dump does not pay for it
    _memo.install()

    try:
        token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
    except RuntimeError:
        token = None
    if _state is None:
        # a dead process's log under our pid: gone before anyone can read an offset
        # of ours in it (registered below)
        _reg.drop_stale_log(log_path())
        watchdog = _Watchdog()
        st = _Installed(
            sig=sig, prev=None, fallback_after=fallback_after, token=token, watchdog=watchdog
        )
        st.prev = signal.signal(sig, _on_signal)
        _state = st
        start_quiet(watchdog)  # the main thread must keep taking SIGUSR1/SIGINT
    else:
        st = _state
        st.fallback_after = fallback_after
        st.token = token or st.token
    st.actor = actor if actor is not None else st.actor
    st.coalesce_s = settings.current().stack_dump_coalesce
    try:
        st.registry_file = _reg.register(_entry_for(st.actor, sig))
    except (OSError, ValueError) as exc:  # dumps on the signal work all the same
        log.warning("devx: could not register for `devx dump`: %s", exc)
    if not _atexit_registered:
        atexit.register(_atexit_cleanup)
        _atexit_registered = True


def _disable(*, ignore_after: bool) -> None:
    global _state
    _main_thread_only()
    st, _state = _state, None
    if st is None:
        return
    prev = st.prev
    if ignore_after and prev in (signal.SIG_DFL, None):
        # a late relay must not kill an exiting child (SIGUSR1's default action)
        prev = signal.SIG_IGN
    signal.signal(st.sig, prev if prev is not None else signal.SIG_DFL)
    st.watchdog.stop()
    _reg.unregister(st.registry_file)


def _atexit_cleanup() -> None:
    st = _state
    if st is not None:
        _reg.unregister(st.registry_file)


@asynccontextmanager
async def actor_lifetime(actor: Any) -> AsyncIterator[None]:
    """The dump hook's lifetime (``devx.debug.stack:HOOK``): enable the dump
    handler in this actor when its tree asked for it (``enable_stack_on_sig=True``)
    or ``DEVX_ENABLE_STACKSCOPE`` is set, and remove it when the actor exits."""
    cfg = getattr(actor, "config", None)
    if not (getattr(cfg, "enable_stack_on_sig", False) or env_enabled()):
        yield
        return
    owned = _state is None  # the user may have enabled it already: then leave it on
    sig, fallback = (
        (signal.SIGUSR1, DEFAULT_FALLBACK_AFTER)
        if _state is None
        else (_state.sig, _state.fallback_after)
    )
    try:
        _enable(signal.Signals(sig), fallback, actor)
    except (RuntimeError, ValueError, OSError) as exc:
        log.warning("devx: stack dumps on signal not enabled in %r: %s", actor, exc)
        owned = False
    try:
        yield
    finally:
        if owned:
            _disable(ignore_after=not getattr(actor, "is_root", True))
        elif _state is not None and _state.actor is actor:
            _state.actor = None


# --- the signal handler ----------------------------------------------------------------


def _on_signal(signum: int, frame: FrameType | None) -> None:
    st = _state
    if st is None:
        return
    now = time.monotonic()
    if now - st.last_accept >= st.coalesce_s:
        st.last_accept = now
        relayed = _relay(st, signum)
        try:
            blocked: str | None = trio.lowlevel.current_task().name
        except RuntimeError:  # the loop is idle (or not ours): nothing is blocking it
            blocked = None
        sample = (frame, frame.f_lasti) if frame is not None else None
        req = _Request(signum, time.time(), now, blocked, sample, relayed, in_trio=False)
        token = st.token
        if token is None:
            with contextlib.suppress(RuntimeError):
                token = trio.lowlevel.current_trio_token()
        if token is not None:
            try:
                token.run_sync_soon(_dump_from_trio, req)
                req.in_trio = True
            except trio.RunFinishedError:
                pass
        st.watchdog.submit(req)
    prev = st.prev
    if callable(prev) and prev is not _on_signal:
        prev(signum, frame)


def _relay(st: _Installed, signum: int) -> list[int]:
    """Send the signal on to this actor's live children that can take it (a child
    still booting has no handler yet, and SIGUSR1 would kill it), each through its
    process object (``actor.child_procs()``), never by bare pid: a forked child
    reaped by the fork server before this actor heard of it may have left its pid to
    another process. Returns the pids signalled."""
    actor = st.actor
    child_procs = getattr(actor, "child_procs", None)
    if child_procs is None:
        return []
    try:
        procs = list(child_procs())
    except Exception:
        return []
    sent = []
    for proc in procs:
        pid = proc.pid
        if _reg.catches_signal(pid, signum) is False:
            continue
        with contextlib.suppress(OSError):
            if proc.send_signal(signum) is not False and proc.returncode is None:
                sent.append(pid)
    return sent


class _Watchdog(threading.Thread):
    """Dumps from outside the loop when the loop does not answer in time. (Its own
    names must not shadow ``threading.Thread``'s private ones: 3.13's Thread keeps
    its OS handle in ``_handle``, and a method of that name killed the watchdog.)"""

    def __init__(self) -> None:
        super().__init__(name="devx-stack-watchdog", daemon=True)
        # a dump request, the code objects to warm the dump path with, or None: stop
        self._q: queue.SimpleQueue[_Request | list[Any] | None] = queue.SimpleQueue()

    def submit(self, req: _Request) -> None:
        self._q.put(req)

    def submit_codes(self, codes: list[Any]) -> None:
        self._q.put(codes)

    def stop(self) -> None:
        self._q.put(None)

    def run(self) -> None:
        warm_at: float | None = time.monotonic() + WARM_AFTER_S
        while True:
            if warm_at is None:
                item = self._q.get()
            else:
                try:
                    item = self._q.get(timeout=max(0.0, warm_at - time.monotonic()))
                except queue.Empty:
                    warm_at = None
                    _ask_for_codes(self)
                    continue
            if item is None:
                return
            if isinstance(item, list):
                with contextlib.suppress(Exception):
                    _memo.warm(item)
                continue
            warm_at = None  # a dump walks the task tree itself
            self._serve(item)

    def _serve(self, req: _Request) -> None:
        st = _state
        step = st.fallback_after if st is not None else DEFAULT_FALLBACK_AFTER
        if not req.in_trio:
            stuck = False
        elif _repl_stops_loop() is not None:
            stuck = True  # the loop waits for the REPL: no use waiting for the loop
        else:
            stuck = self._wait_for_trio(req, step)
        if req.claim("watchdog"):
            _guarded(_dump_without_trio, req, time.monotonic() - req.mono, stuck)

    @staticmethod
    def _wait_for_trio(req: _Request, step: float) -> bool:
        """Wait for the loop to claim ``req``. Give up after ``step`` seconds if the
        main thread sits at the same bytecode of the same non-trio frame as at the
        previous look (stuck in a sync call), else after ``HARD_FALLBACK_S`` (a loop
        that is busy or starved of CPU, not stuck, gets that long)."""
        prev = req.sample
        while not req.claimed.wait(max(0.0, step)):
            top = sys._current_frames().get(threading.main_thread().ident or -1)
            cur = (top, top.f_lasti) if top is not None else None
            if (
                cur is not None
                and prev is not None
                and cur[0] is prev[0]
                and cur[1] == prev[1]
                and not cur[0].f_code.co_filename.startswith(_TRIO_DIR)
            ):
                return True
            if time.monotonic() - req.mono >= HARD_FALLBACK_S:
                return False
            prev = cur
        return False


def _ask_for_codes(watchdog: _Watchdog) -> None:
    """Have the loop list its tasks' code objects for ``watchdog`` to warm."""
    st = _state
    token = st.token if st is not None and st.watchdog is watchdog else None
    if token is not None:
        with contextlib.suppress(trio.RunFinishedError, RuntimeError):
            token.run_sync_soon(_codes_for, watchdog)


def _codes_for(watchdog: _Watchdog) -> None:
    """On the loop, between task steps (every task suspended): a cheap walk."""
    try:
        codes = [*_memo.code_objects(trio.lowlevel.current_root_task()), *_dump_path()]
    except Exception:
        return
    watchdog.submit_codes(codes)


def _dump_path() -> list[Any]:
    """The code objects on the dump's own stack, which stackscope walks too (the
    running task's frames): the dump functions and their callers up to the task's
    coroutine, trio's run_sync_soon queue. Call from a run_sync_soon callback, the
    place a dump runs from. Without them a first dump analysed half a dozen code
    objects cold (~5 ms, half its CPU on Python 3.13)."""
    codes = [f.__code__ for f in (_dump_from_trio, _guarded, _dump_with_trio, _render_task_tree)]
    coro = getattr(trio.lowlevel.current_task().coro, "cr_frame", None)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        codes.append(frame.f_code)
        if frame is coro:
            break
        frame = frame.f_back
    return codes


_warmed_ahead = False


def warm_ahead() -> None:
    """Fill the memo and the line cache with what every trio process's dump walks:
    trio's own tasks (its init task, the run_sync_soon queue) and the dump's call
    path, learnt from a short ``trio.run`` that renders one (stackscope sets up its
    glue on its first walk). For a process that forks actors (the
    fork server's zygote, :meth:`StackDumpHook.preload_for`): each forked actor
    inherits them, so even a dump right after it starts finds them warm (on Python
    3.13 they are all a child's first dump analyses). Once per process; call with
    no trio loop running and no signal wakeup fd set (trio would warn)."""
    global _warmed_ahead
    if _warmed_ahead:
        return
    _warmed_ahead = True
    codes: list[Any] = []

    async def learn() -> None:
        done = trio.Event()

        def collect() -> None:
            codes.extend(_memo.code_objects(trio.lowlevel.current_root_task()))
            codes.extend(_dump_path())
            with contextlib.suppress(Exception):  # stackscope's glue, set up on first use
                format_stack_dump()
            done.set()

        trio.lowlevel.current_trio_token().run_sync_soon(collect)
        await done.wait()

    trio.run(learn)
    _memo.warm(codes)
    _stackscope_version()


def _guarded(fn: Callable[..., None], *args: Any) -> None:
    """A dump must never raise into trio (a run_sync_soon callback that raises is a
    TrioInternalError) or kill the watchdog."""
    try:
        fn(*args)
    except BaseException:
        with contextlib.suppress(BaseException):
            console.write(f"devx: stack dump failed:\n{traceback.format_exc()}")


def _dump_from_trio(req: _Request) -> None:
    if req.claim("trio"):
        _guarded(_dump_with_trio, req)


# --- rendering -------------------------------------------------------------------------


def _dump_with_trio(req: _Request) -> None:
    fd, path, note = _open_log()
    skip = {threading.get_ident(), *_watchdog_idents()}
    root, me = trio.lowlevel.current_root_task(), trio.lowlevel.current_task()
    brief, walked = _brief.for_trio(_who(), root, me, skip)
    tree, count = _render_task_tree(walked)
    body = [brief, tree, _render_threads(skip, title="other threads")]
    _emit(req, fd, path, note, body, max(count, walked), mode="trio task tree")


def _dump_without_trio(req: _Request, waited: float, stuck: bool) -> None:
    fd, path, note = _open_log()
    repl = _repl_stops_loop() if req.in_trio else None
    if repl is not None:
        who = f"task {req.blocked_task!r}" if req.blocked_task else "the main thread"
        why = (
            f"the trio loop is stopped in a REPL: {who} is at the debugger prompt ({repl}) "
            "on the main thread; it goes on when the REPL is left (see the MainThread "
            "stack below)"
        )
    elif req.in_trio and stuck:
        who = f"task {req.blocked_task!r}" if req.blocked_task else "a sync call"
        why = (
            f"the trio loop is blocked: the main thread has not moved for {waited:.2f} s, "
            f"most likely in a sync call made by {who} (see the MainThread stack below)"
        )
    elif req.in_trio:
        why = (
            f"the trio loop did not run the dump within {waited:.2f} s of the signal; it "
            "is not stuck in one call but busy or starved (see the MainThread stack below)"
        )
    else:
        why = "no trio loop is running in this process"
    header = f"-- trio task tree could not be walked: {why} --\n"
    if req.in_trio and repl is None:
        _hold_for_a_live_repl()
    skip = {threading.get_ident()}
    blocked = (req.blocked_task or "<sync call>") if req.in_trio and repl is None else None
    brief = _brief.for_threads(_who(), skip, blocked)
    body = [brief, header, _render_threads(skip, title="all threads")]
    _emit(req, fd, path, note, body, None, mode="thread stacks (fallback)")


def _hold_for_a_live_repl() -> None:
    """This actor's loop does not run the dump (blocked in sync code: a hung worker):
    it reads none of the lock states the root pushes either, so its console gate may
    be open while another actor's REPL is live, and the whole dump went under that
    prompt. The root's lock file says whether a REPL is live in the tree: the gate
    closes then, and the next state the loop reads once it runs again (the release,
    waiting in its channel) opens it, as any push does (the dump's terminal copy is
    then its one line, written after the release). The file is written within
    ``lock_file.COALESCE_S`` of a grant: a dump in that first moment may miss it."""
    if console.held():
        return
    lock_file = sys.modules.get("devx.debug.lock_file")  # loaded by a debug tree's actors
    st = _state
    actor = (st.actor if st is not None else None) or _lookup_actor()
    if lock_file is None or actor is None:
        return
    try:
        state = lock_file.read(actor.root_uid.uuid)
    except Exception:
        return
    if state is not None and state.hold_id and not state.closed:
        console.hold("a REPL is live in the tree (the root's lock file; this loop is blocked)")


def _watchdog_idents() -> list[int]:
    st = _state
    return [st.watchdog.ident] if st is not None and st.watchdog.ident is not None else []


def format_stack_dump() -> str:
    """The trio task tree and other threads of the current run, as text (call from
    a trio task; what a signal dump shows below its header)."""
    tree, _count = _render_task_tree(None)
    return tree + _render_threads({threading.get_ident()}, title="other threads")


def _who() -> str:
    """This process in the brief lines: its tree path, else the program's name."""
    st = _state
    actor = (st.actor if st is not None else None) or _lookup_actor()
    if actor is not None:
        return str(actor.path)
    return os.path.basename(sys.argv[0] or "python") or "python"


def _render_task_tree(expected: int | None) -> tuple[str, int]:
    """stackscope's walk of the task tree; when it finds fewer tasks than trio's own
    tree holds (``expected``: stackscope 0.2 cannot map Python 3.13's bytecode to
    nurseries), say so and add every task's frames from trio's tree."""
    _memo.install()  # first: it imports stackscope quietly
    import stackscope

    _glue_inline(stackscope)

    root = trio.lowlevel.current_root_task()
    try:
        stack = stackscope.extract(root, recurse_child_tasks=True)
    except Exception as exc:  # stackscope promises not to raise; be safe anyway
        count, summary, detail = 0, "", f"stackscope failed: {exc!r}\n"
    else:
        lines: list[str] = []
        count = _summarize(stack, stackscope.Stack, lines)
        summary = "".join(lines)
        detail = "".join(stack.format())
    text = (
        f"-- trio task tree: {count} tasks (indent = nursery nesting; 'at' = innermost "
        f"non-trio frame, 'waits in' = the exact wait point) --\n{summary}"
        f"-- stackscope detail --\n{detail}"
    )
    if expected is not None and count < expected:
        # stackscope fell short: the summary and every task's frames from trio's tree
        me = trio.lowlevel.current_task()
        summary, walked = _brief.task_summary(root, me, _TRIO_DIR)
        text = (
            f"-- trio task tree: {walked} tasks (indent = nursery nesting; 'at' = innermost "
            f"non-trio frame, 'waits in' = the exact wait point; walked with trio's own "
            f"task tree) --\n{summary}"
            f"-- stackscope {_stackscope_version()} walked only {count} of the {walked} tasks "
            f"on Python {sys.version_info[0]}.{sys.version_info[1]} (it cannot map this "
            "Python's bytecode to nurseries); every task's frames follow its detail --\n"
            f"-- stackscope detail --\n{detail}-- every task's frames (trio's task tree) --\n"
            + _brief.task_tree(root, me)
        )
        count = walked
    return text, count


_glued = False


def _glue_inline(stackscope: Any) -> None:
    """Teach stackscope (once) the driver of a call its worker read off the channel
    (:func:`devx.runtime.inline.past_a_checkpoint`): it runs the call's coroutine by
    hand, its waits yielded, not awaited, so stackscope stopped at it and the call's
    task read 'not started', its user frames missing from the dump."""
    global _glued
    if _glued:
        return
    _glued = True
    from ...runtime.inline import past_a_checkpoint

    @stackscope.elaborate_frame.register(past_a_checkpoint)  # type: ignore[untyped-decorator]
    def _through_driver(frame: Any, next_inner: object) -> object:
        frame.hide = True
        if isinstance(next_inner, stackscope.Frame):
            return None  # (the coroutine runs: its frames follow already)
        return frame.pyframe.f_locals.get("coro")


_version: str | None = None


def _stackscope_version() -> str:
    """stackscope's version from its dist-info directory's name, read once per process:
    ``importlib.metadata`` costs ~3/4 of an actor's first dump (its import and a scan
    of every distribution), at the moment the whole tree is signalled."""
    global _version
    if _version is None:
        _version = "?"
        with contextlib.suppress(Exception):
            import stackscope

            site = os.path.dirname(os.path.dirname(stackscope.__file__ or ""))
            for name in os.listdir(site):
                stem, _, ext = name.rpartition(".")
                pkg, _, ver = stem.partition("-")
                if ext in ("dist-info", "egg-info") and pkg.lower() == "stackscope" and ver:
                    _version = ver
                    break
    return _version


def _summarize(stack: Any, stack_type: type, lines: list[str]) -> int:
    """One line per task, indented by nursery nesting; returns the task count."""
    count = 0

    def visit_stack(s: Any, depth: int) -> None:
        nonlocal count
        if isinstance(s.root, trio.lowlevel.Task):
            count += 1
            lines.append("  " * depth + _describe_task(s) + "\n")
            depth += 1
        for fr in s.frames:
            for ctx in fr.contexts:
                visit_ctx(ctx, depth)

    def visit_ctx(ctx: Any, depth: int) -> None:
        if ctx.inner_stack is not None:
            for fr in ctx.inner_stack.frames:
                for sub in fr.contexts:
                    visit_ctx(sub, depth)
        for child in ctx.children:
            if isinstance(child, stack_type):
                visit_stack(child, depth)
            else:
                visit_ctx(child, depth)

    visit_stack(stack, 0)
    return count


def _describe_task(s: Any) -> str:
    frames = [f for f in s.frames if not f.hide]
    name = f"task {s.root.name!r}"
    if s.root.name == IDLE_NAME:  # (its loop's frames are hidden, not missing)
        return f"{name}: parked, serves the next call"
    if not frames:
        return f"{name}: not started"
    leaf = frames[-1]
    user = next((f for f in reversed(frames) if not f.filename.startswith(_TRIO_DIR)), leaf)
    if user.filename == __file__:
        return f"{name}: writing this dump"
    text = f"{name} at {user.filename}:{user.lineno} in {user.funcname}"
    if user is not leaf:
        text += f" (waits in {leaf.modname or leaf.filename}.{leaf.funcname}:{leaf.lineno})"
    return text


def _render_threads(skip: set[int], *, title: str) -> str:
    frames = sys._current_frames()
    threads = {t.ident: t for t in threading.enumerate()}
    main_ident = threading.main_thread().ident
    idents = sorted((i for i in frames if i not in skip), key=lambda i: (i != main_ident, i))
    out = [f"-- {title}: {len(idents)} --\n"]
    for ident in idents:
        t = threads.get(ident)
        label = f"{t.name!r}{' (daemon)' if t.daemon else ''}" if t else "<unknown>"
        out.append(f"Thread {label} ident={ident} (most recent call last):\n")
        out.extend(traceback.format_stack(frames[ident]))
    return "".join(out)


# --- header and output -----------------------------------------------------------------


def _lookup_actor() -> Any:
    try:
        from devx.runtime.actor import current_actor
    except ImportError:
        return None
    try:
        return current_actor(err_on_no_runtime=False)
    except Exception:
        return None


def _lineage_lines(actor: Any) -> tuple[str, list[str]]:
    pid = os.getpid()
    if actor is None:
        argv = " ".join(sys.argv) or sys.executable
        return f"{os.path.basename(sys.argv[0] or 'python')} pid {pid}", [
            f"actor:    no actor runtime (plain trio program) pid={pid} ppid={os.getppid()}\n",
            f"argv:     {argv}\n",
        ]
    lin = getattr(actor, "lineage", None)
    parent = getattr(lin, "parent_uid", None)
    return f"{actor.path} {actor.uid} pid {pid}", [
        f"actor:    name={actor.name} uid={actor.uid} path={actor.path} pid={pid}\n",
        f"lineage:  parent={parent or '-'} (pid {getattr(lin, 'parent_pid', os.getppid())}) "
        f"root={getattr(lin, 'root_uid', '-')}\n",
    ]


def _entry_for(actor: Any, sig: int) -> _reg.Entry:
    pid = os.getpid()
    common: dict[str, Any] = dict(
        pid=pid,
        start_time=_reg.proc_start_time(pid),
        signal=int(sig),
        log_path=log_path(pid),
        tag=settings.current().hang_tag,
    )
    if actor is None:
        name = os.path.basename(sys.argv[0] or "python")
        return _reg.Entry(
            **common,
            name=name,
            uid="",
            path="",
            parent_uid="",
            root_uid="",
            parent_pid=os.getppid(),
            is_root=True,
            actor=False,
        )
    lin = actor.lineage
    return _reg.Entry(
        **common,
        name=actor.name,
        uid=str(actor.uid),
        path=actor.path,
        parent_uid=str(lin.parent_uid) if lin.parent_uid else "",
        root_uid=str(lin.root_uid),
        parent_pid=lin.parent_pid,
        is_root=bool(actor.is_root),
        actor=True,
    )


def _open_log() -> tuple[int | None, str | None, str | None]:
    """The log fd: the /tmp path, else the private fallback; note why if not /tmp."""
    path = log_path()
    try:
        return _reg.open_private_append(path), path, None
    except OSError as exc:
        note = f"devx: refusing to write {path}: {exc.strerror or exc}"
    alt = _reg.alt_log_path()
    if alt is not None:
        try:
            return _reg.open_private_append(alt), alt, f"{note}; using {alt}\n"
        except OSError as exc:
            note += f"; fallback {alt} also refused: {exc.strerror or exc}"
    return None, None, note + "\n"


def _repl_line(
    label: str, text: str, path: str | None, note: str | None, task_count: int | None
) -> str:
    """A dump's one terminal line when it was taken while a REPL was live: who, its
    first user task (the brief), and where the full text is."""
    user = [x for x in _brief.extract(text) if not _brief.is_runtime(x)]
    first = f"; {user[0].partition('  ')[2]}" if user else ""
    tasks = f"; {task_count} tasks" if task_count is not None else ""
    where = f"in {path}" if path else f"not written: {(note or '').strip()}"
    head = f"{_reg.BEGIN_MARKER} (taken while a REPL was live)"
    return f"{head}: {label}{first}{tasks}; full text {where}\n"


def _emit(
    req: _Request,
    fd: int | None,
    path: str | None,
    note: str | None,
    body: list[str],
    task_count: int | None,
    *,
    mode: str,
) -> None:
    st = _state
    actor = (st.actor if st is not None else None) or _lookup_actor()
    label, lineage = _lineage_lines(actor)
    signame = signal.Signals(req.signum).name
    now = datetime.now().astimezone()
    relayed = (
        f"{signame} -> {len(req.relayed)} child(ren): {' '.join(map(str, req.relayed))}"
        if req.relayed
        else "-"
    )
    pid = os.getpid()
    head = [
        f"{_reg.BEGIN_MARKER}: {label} =====\n",
        f"time:     {now.isoformat(timespec='milliseconds')} ({signame} received "
        f"{time.time() - req.wall:.3f} s earlier)\n",
        *lineage,
        f"mode:     {mode}\n",
        f"relayed:  {relayed}\n",
        f"log:      {path or '(none)'}\n",
        *([f"note:     {note.removeprefix('devx: ')}"] if note else []),
    ]
    text = "".join([*head, *(b if b.endswith("\n") else b + "\n" for b in body)])
    text += _reg.end_line(pid)
    data = text.encode("utf-8", "backslashreplace")
    if fd is not None:
        try:
            _reg.write_all(fd, data)
        finally:
            os.close(fd)
    # the terminal copy: held back while a REPL is live in the tree, in order after
    # the release (the file and the telemetry record above/below are written now).
    # Taken under a live REPL it is one line (hundreds would bury the session): the
    # full text is in the file, the telemetry and a `devx dump` client's output
    if settings.current().stack_dump_terminal:  # the pytest plugin keeps them in files
        if console.held():
            console.write(_repl_line(label, text, path, note, task_count))
        else:
            console.write_bytes((note.encode() if note else b"") + data, fd=2)
    try:
        from devx.core import events
    except ImportError:
        return
    attrs: dict[str, Any] = {
        schema.DUMP_SIGNAL: signame,
        schema.DUMP_TASK_COUNT: task_count if task_count is not None else -1,
        schema.DUMP_LOG_PATH: path or "",
    }
    # its own span, ended now, under the actor's start span (exported at boot): a
    # trace view shows each dump, nested, while the tree still hangs (an event on the
    # actor's span would only export at the actor's exit)
    limit = schema.DUMP_TEXT_LIMIT
    cut = text if len(text) <= limit else text[:limit] + f"\n... ({len(text)} chars, cut)"
    span = events.start_live_span(
        schema.STACK_DUMP,
        **attrs,
        **{schema.DUMP_TEXT: cut, schema.DUMP_TRUNCATED: len(text) > limit},
        **(actor.lineage_attrs() if actor is not None else {}),
    )
    span.end()
    events.event(schema.STACK_DUMP, **attrs, **{schema.DUMP_TEXT: text})  # the log record
    events.flush(1.0)
