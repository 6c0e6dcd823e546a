"""The stack-dump handler in plain trio programs (no actor runtime): real processes
signalled from outside, plus in-process checks of enabling, the registry and the
safe log file."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from conftest import await_until, blocked_in, run_script, scaled, wait_until
from devx.debug import stack
from devx.debug.stack import registry as reg
from test_stack_support import PY, Env, complete_log, dump_count, past_coalescing_window, read_log
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(60)

PROG = textwrap.dedent(
    """
    import os, sys, threading, time
    import trio
    from devx.debug.stack import enable_stack_on_sig

    release, parked = threading.Event(), threading.Event()

    def parked_thread():
        parked.set(); release.wait()  # one line: where a dump finds this thread

    # each task says it started once it is about to park: no checkpoint in between,
    # so it is parked before main goes on

    async def hang_forever(task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await trio.sleep_forever()

    async def nested_child(task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await trio.sleep_forever()

    async def nested_parent(task_status=trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as n:
            await n.start(nested_child, name="nested_child")
            task_status.started()
            await trio.sleep_forever()

    async def block_loop():
        print("BLOCKING", flush=True)
        time.sleep(60)  # BLOCKING-LINE

    async def main():
        enable_stack_on_sig()
        threading.Thread(target=parked_thread, name="parked-thread", daemon=True).start()
        parked.wait()
        async with trio.open_nursery() as n:
            await n.start(hang_forever, name="hang_forever")
            await n.start(nested_parent, name="nested_parent")
            print(f"READY {os.getpid()}\\n", end="", flush=True)
            if "--block" in sys.argv:
                n.start_soon(block_loop, name="block_loop")

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass
    """
)


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    path = tmp_path / "plain_prog.py"
    path.write_text(PROG)
    return path


def sleeping(pid: int) -> bool:
    """The main thread of ``pid`` is in time.sleep() (skips the test when the kernel
    does not tell: the dump would race with the loop getting there)."""
    threads = blocked_in(pid)
    if threads is None:
        pytest.skip(f"cannot see what pid {pid} is blocked in (/proc/<pid>/task/*/syscall)")
    return threads.get(pid, ("",))[0] in ("clock_nanosleep", "nanosleep")


def _signal_and_wait(pid: int) -> str:
    os.kill(pid, signal.SIGUSR1)
    return wait_until(lambda: complete_log(pid), scaled(3), f"the dump of pid {pid}")


def test_dump_of_plain_trio_program(dump_env: Env, prog: Path) -> None:
    tree = dump_env.start([PY, str(prog)])
    tree.wait_lines(r"^READY", 1, scaled(10))
    pid = tree.pid
    (entry,) = [e for e in dump_env.entries() if e.pid == pid]
    assert not entry.actor and entry.signal == signal.SIGUSR1
    assert not os.path.exists(reg.log_path(pid))

    text = _signal_and_wait(pid)
    assert text.startswith(f"{reg.BEGIN_MARKER}: plain_prog.py pid {pid} =====\n")
    assert "no actor runtime" in text
    assert "mode:     trio task tree" in text
    # every task, with nursery nesting and where it waits
    lines = text.splitlines()
    hang = next(ln for ln in lines if ln.lstrip().startswith("task 'hang_forever'"))
    assert "plain_prog.py" in hang and "in hang_forever" in hang and "sleep_forever" in hang
    parent = next(ln for ln in lines if ln.lstrip().startswith("task 'nested_parent'"))
    child = next(ln for ln in lines if ln.lstrip().startswith("task 'nested_child'"))
    indent = len(child) - len(child.lstrip())
    assert indent > len(parent) - len(parent.lstrip())
    assert "-- stackscope detail --" in text
    # other threads too
    assert "Thread 'parked-thread'" in text and "release.wait()" in text

    st = os.lstat(reg.log_path(pid))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    err = tree.stderr_with(pid)
    assert f"{reg.BEGIN_MARKER}: plain_prog.py pid {pid}" in err
    assert "task 'hang_forever'" in err
    assert "Warning" not in err  # 3.13 warned at stackscope's import

    # a burst of signals is one dump; a later one appends a second with its header.
    # Signals closer than the window (COALESCE, set for the trees of these tests) to
    # the last one taken are dropped: the process took the first one before its dump
    # completed, so the window runs from before here.
    past_coalescing_window()
    os.kill(pid, signal.SIGUSR1)
    os.kill(pid, signal.SIGUSR1)
    wait_until(lambda: read_log(pid).count(reg.end_line(pid)) >= 2, scaled(3), "a second dump")
    # a marker: one more signal, past the coalescing window. Dumps are written in the
    # order the signals were taken, so once the marker's is complete a second dump
    # of the burst would be in the log before it: exactly three.
    past_coalescing_window()
    os.kill(pid, signal.SIGUSR1)
    wait_until(lambda: read_log(pid).count(reg.end_line(pid)) >= 3, scaled(3), "the marker dump")
    assert dump_count(pid) == 3
    assert read_log(pid).count(reg.end_line(pid)) == 3
    assert tree.proc.poll() is None

    # a clean exit leaves the registry
    os.kill(pid, signal.SIGINT)
    tree.proc.wait(10)
    assert not [e for e in dump_env.entries() if e.pid == pid]


def test_blocked_loop_falls_back_to_thread_stacks(dump_env: Env, prog: Path) -> None:
    tree = dump_env.start([PY, str(prog), "--block"])
    tree.wait_lines(r"^BLOCKING", 1, scaled(10))
    wait_until(lambda: sleeping(tree.pid), scaled(3), "the loop blocked in time.sleep()")
    text = _signal_and_wait(tree.pid)
    assert "mode:     thread stacks (fallback)" in text
    assert "trio task tree could not be walked" in text
    assert "task 'block_loop'" in text  # the task that holds the loop is named
    main = text[text.index("Thread 'MainThread'") :]
    assert "in block_loop" in main and "time.sleep(60)  # BLOCKING-LINE" in main
    assert "Thread 'parked-thread'" in text
    assert "could not be walked" in tree.stderr_with(tree.pid)
    assert tree.proc.poll() is None


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-file", "dangling"])
def test_planted_symlink_is_not_followed(
    dump_env: Env, prog: Path, tmp_path: Path, target_exists: bool
) -> None:
    tree = dump_env.start([PY, str(prog)])
    tree.wait_lines(r"^READY", 1, scaled(10))
    pid = tree.pid
    victim = tmp_path / "victim.txt"
    if target_exists:
        victim.write_text("precious\n")
    link = reg.log_path(pid)
    os.symlink(victim, link)
    try:
        os.kill(pid, signal.SIGUSR1)
        alt = dump_env.runtime_dir / f"stackscope-{pid}.log"
        wait_until(
            lambda: alt.exists() and reg.end_line(pid) in alt.read_text(),
            scaled(3),
            "the fallback log",
        )
        assert os.path.islink(link)
        if target_exists:
            assert victim.read_text() == "precious\n"
        else:
            assert not victim.exists()
        assert stat.S_IMODE(alt.stat().st_mode) == 0o600
        text = alt.read_text()
        assert f"log:      {alt}" in text and "task 'hang_forever'" in text
        assert f"note:     refusing to write {link}" in text
        err = tree.stderr_with(pid)
        assert f"refusing to write {link}" in err and "not followed" in err
        assert "task 'hang_forever'" in err
    finally:
        os.unlink(link)


# Planting another user's file at the log path takes root (chown), or, for any user,
# a user and mount namespace in which a file of someone else's (root's: unmapped
# there, it shows as owned by 65534) is bind-mounted, read-only, over the path.
PLANT_IN_NAMESPACE = r"""
set -e
"$PY" "$PROG" &
pid=$!
log=/tmp/devx-stackscope-$pid.log
touch "$log"
mount --bind "$SRC" "$log"
mount -o remount,bind,ro "$log"
echo "PLANTED $pid"
wait $pid
"""


def _userns_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.parametrize("how", ["chown", "namespace"])
def test_foreign_log_file_is_refused(dump_env: Env, prog: Path, tmp_path: Path, how: str) -> None:
    if how == "chown":
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root (the 'namespace' case needs not)")
        tree = dump_env.start([PY, str(prog)])
        tree.wait_lines(r"^READY", 1, scaled(10))
        pid = tree.pid
        planted = Path(reg.log_path(pid))
        fd = os.open(planted, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        os.chown(planted, 65534, 65534)
        os.chmod(planted, 0o666)  # writable for anyone: only the owner check stops it
        reasons = ["is owned by uid 65534, not us"]
    else:
        if not _userns_works():
            pytest.skip("no unprivileged user and mount namespaces here (unshare -rm)")
        source = tmp_path / "planted.log"
        if os.geteuid() == 0:  # root's own files would be ours in the namespace
            source.write_text("someone else's\n")
            os.chown(source, 65534, 65534)
            os.chmod(source, 0o666)
        else:
            source = Path("/etc/passwd")  # root's: read-only bound, never writable
        before = source.read_bytes()
        env = {"PY": PY, "PROG": str(prog), "SRC": str(source)}
        dump_env.vars.update(env)
        tree = dump_env.start(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                               PLANT_IN_NAMESPACE])  # fmt: skip
        (m,) = tree.wait_lines(r"^PLANTED (\d+)$", 1, scaled(10))
        tree.wait_lines(r"^READY", 1, scaled(10))
        pid = int(m[1])  # not tracked yet: that unlinks the log path, undoing the mount
        planted = source
        reasons = ["is owned by uid 65534, not us", "Read-only file system", "Permission denied"]
    os.kill(pid, signal.SIGUSR1)
    alt = dump_env.runtime_dir / f"stackscope-{pid}.log"
    try:
        wait_until(
            lambda: alt.exists() and reg.end_line(pid) in alt.read_text(),
            scaled(3),
            "the dump in the private fallback log",
        )
    finally:
        dump_env.track(pid)  # the mount point, or the planted file: removed now
    assert "task 'hang_forever'" in alt.read_text()
    if how == "chown":
        assert planted.stat().st_size == 0
    else:
        assert planted.read_bytes() == before
    err = tree.stderr_with(pid)
    assert f"refusing to write {reg.log_path(pid)}" in err
    assert any(reason in err for reason in reasons), err
    assert "task 'hang_forever'" in err


# --- in-process ------------------------------------------------------------------------


class RecordingBackend:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.spans: list[tuple[str, dict[str, Any], Any]] = []
        self.flushes = 0

    def start_span(self, name: str, attrs: Any, *, activate: bool, parent: Any = None) -> Any:
        from devx.core.events import NULL_SPAN

        self.spans.append((name, dict(attrs), parent))
        return NULL_SPAN

    def event(self, name: str, attrs: Any) -> None:
        self.events.append((name, dict(attrs)))

    def exception(self, exc: BaseException, attrs: Any) -> None:
        pass

    def carrier(self) -> dict[str, str]:
        return {}

    def flush(self, timeout: float) -> None:
        self.flushes += 1

    def wait_ready(self, timeout: float) -> bool:
        return True

    def shutdown(self, timeout: float) -> None:
        pass


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Isolate the registry, restore SIGUSR1 and clean our own /tmp log."""
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.delenv("DEVX_ENABLE_STACKSCOPE", raising=False)
    prev = signal.getsignal(signal.SIGUSR1)
    log = reg.log_path()
    if os.path.exists(log):
        os.unlink(log)
    try:
        yield
    finally:
        if stack.stack_on_sig_enabled():
            stack.disable_stack_on_sig()
        signal.signal(signal.SIGUSR1, prev)
        if os.path.exists(log):
            os.unlink(log)


def test_in_process_dump_emits_telemetry(in_process: None) -> None:
    from devx.core import events

    backend = RecordingBackend()
    prev = events.install(backend)
    pid = os.getpid()

    async def waiter(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def main() -> None:
        stack.enable_stack_on_sig()
        async with trio.open_nursery() as n:
            await n.start(waiter, name="in-process-waiter")
            os.kill(pid, signal.SIGUSR1)
            await await_until(lambda: complete_log(pid), scaled(3), "the dump")
            n.cancel_scope.cancel()
        stack.disable_stack_on_sig()

    try:
        trio.run(main)
    finally:
        events.install(prev)
    text = complete_log(pid)
    assert "task 'in-process-waiter'" in text
    ((name, attrs),) = backend.events
    assert name == "devx.stack_dump"
    assert attrs["signal"] == "SIGUSR1"
    assert attrs["log_path"] == reg.log_path(pid)
    assert attrs["task_count"] >= 3
    assert attrs["dump"] == text
    # and its own span, under the actor's start span (a live parent), with the text
    ((span_name, span_attrs, parent),) = backend.spans
    assert span_name == "devx.stack_dump" and parent is events.LIVE_PARENT
    assert span_attrs["dump"] == text and span_attrs["devx.dump.truncated"] is False
    assert backend.flushes == 1
    assert signal.getsignal(signal.SIGUSR1) is not stack.handler._on_signal


def test_watchdog_warms_the_dump_path(in_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once enabled, the watchdog analyses (off the loop) the code of every task's
    frames, of the ``@asynccontextmanager`` a task sits in (off the await chain), of
    one entered on an ``AsyncExitStack`` and of the dump's own functions, so a first
    dump finds them ready; the
    memo gives back exactly what stackscope computes."""
    from stackscope import _lowlevel as low

    from devx.debug.stack import memo

    monkeypatch.setattr(stack.handler, "WARM_AFTER_S", 0.0)

    @asynccontextmanager
    async def held() -> AsyncIterator[None]:
        yield

    @asynccontextmanager
    async def stacked() -> AsyncIterator[None]:
        yield

    async def waiter(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with held(), AsyncExitStack() as es:
            await es.enter_async_context(stacked())
            task_status.started()
            await trio.sleep_forever()

    codes = [waiter.__code__, held.__wrapped__.__code__, stacked.__wrapped__.__code__]
    # and the dump's own call path, which stackscope walks as the running task's frames
    codes += [stack.handler._dump_with_trio.__code__, stack.handler._render_task_tree.__code__]

    async def main() -> None:
        async with trio.open_nursery() as n:
            await n.start(waiter)
            stack.enable_stack_on_sig()
            await await_until(
                lambda: all(memo.is_cached(c) for c in codes), scaled(5), "the memo warm"
            )
            n.cancel_scope.cancel()
        stack.disable_stack_on_sig()

    trio.run(main)
    for code in [*codes, trio.sleep.__code__, stack.handler._dump_with_trio.__code__]:
        assert low.analyze_with_blocks(code) == memo._orig(code)
    assert low.analyze_with_blocks(waiter.__code__), "waiter's two with blocks are found"
    tables = getattr(low, "_parse_exception_table", None)
    if tables is not None:  # Python 3.11+: decoded once per code object, the same entries
        assert getattr(tables, "_devx_memo", False)
        for code in [*codes, trio.sleep.__code__]:
            assert tables(code) is tables(code)
            assert list(tables(code)) == list(tables.__wrapped_orig__(code))


def _recurse(n: int) -> Any:
    """A generator chain of ``n`` identical frames above one that is suspended."""
    if n:
        yield from _recurse(n - 1)  # RECURSE-LINE
    else:
        yield


def _sourceless_frame() -> Any:
    """A suspended frame whose source cannot be read."""
    ns: dict[str, Any] = {}
    exec(compile("def gen():\n    yield\n", "<no source here>", "exec"), ns)
    g = ns["gen"]()
    next(g)
    return g


@pytest.mark.parametrize("limit", [None, 2, 0, -3])
def test_task_frames_read_as_traceback_prints_them(
    limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dump's every-task-frames section formats frames itself (traceback's
    machinery was a third of a dump's CPU): the text is traceback's, identical frames
    in a row folded, a frame without source, ``sys.tracebacklimit`` applied."""
    import traceback

    from devx.debug.stack import brief

    if limit is None:
        monkeypatch.delattr(sys, "tracebacklimit", raising=False)
    else:
        monkeypatch.setattr(sys, "tracebacklimit", limit, raising=False)
    chains = []
    for depth in (0, 2, 3, 4, 9):
        gen = _recurse(depth)
        next(gen)
        chains.append(brief.coro_frames(gen))
    sourceless = _sourceless_frame()
    chains.append([*chains[-1], sourceless.gi_frame])
    chains.append([sourceless.gi_frame, *chains[2]])
    assert len(chains[4]) == 10 and chains[4][0].f_code is _recurse.__code__
    for chain in chains:
        expected = traceback.StackSummary.extract(
            ((f, f.f_lineno) for f in chain), lookup_lines=True
        ).format()
        assert brief.format_frames(chain) == expected
    folded = "".join(brief.format_frames(chains[4]))
    if limit is None:
        assert "[Previous line repeated 6 more times]" in folded and "RECURSE-LINE" in folded


def _fake_actor(enable: bool, is_root: bool = True) -> Any:
    from devx.runtime.msgs import ActorID, Lineage

    uid = ActorID("fake", "0123456789abcdef")
    lin = Lineage(uid=uid, parent_uid=None, root_uid=uid, path="fake", pid=os.getpid(),
                  parent_pid=os.getppid())  # fmt: skip
    return SimpleNamespace(
        name="fake",
        uid=uid,
        lineage=lin,
        path="fake",
        pid=os.getpid(),
        is_root=is_root,
        config=SimpleNamespace(enable_stack_on_sig=enable),
        child_procs=lambda: [],
    )


def _run_lifetime(actor: Any) -> tuple[bool, list[reg.Entry]]:
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with stack.actor_lifetime(actor):
            seen["enabled"] = stack.stack_on_sig_enabled()
            seen["entries"] = reg.entries()

    trio.run(main)
    return seen["enabled"], seen["entries"]


def test_actor_lifetime_follows_config_and_env(
    in_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    enabled, _ = _run_lifetime(_fake_actor(False))
    assert not enabled and signal.getsignal(signal.SIGUSR1) == before

    enabled, entries = _run_lifetime(_fake_actor(True))
    assert enabled and not stack.stack_on_sig_enabled()
    (entry,) = entries
    assert (entry.pid, entry.name, entry.path, entry.actor) == (os.getpid(), "fake", "fake", True)
    assert reg.entries() == []
    assert signal.getsignal(signal.SIGUSR1) == before

    monkeypatch.setenv("DEVX_ENABLE_STACKSCOPE", "1")
    enabled, _ = _run_lifetime(_fake_actor(False, is_root=False))
    assert enabled
    # an exiting child must not die of a late relayed signal
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("0", False), ("false", False), ("Off", False), ("1", True), ("yes", True)],
)
def test_env_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("DEVX_ENABLE_STACKSCOPE", value)
    assert stack.env_enabled() is expected


# --- registry and safe files --------------------------------------------------------------


def test_runtime_dir_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(shared))
    assert reg.runtime_dir() is None
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(link))
    assert reg.runtime_dir() is None
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(fresh))
    assert reg.runtime_dir() == str(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def test_open_private_append_refuses_unsafe_targets(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("x")
    link = tmp_path / "link.log"
    link.symlink_to(target)
    with pytest.raises(reg.UnsafePath, match="symlink"):
        reg.open_private_append(str(link))
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(OSError):  # ENXIO without a reader: never blocks
        reg.open_private_append(str(fifo))
    hard = tmp_path / "hard.log"
    os.link(target, hard)
    with pytest.raises(reg.UnsafePath, match="hard links"):
        reg.open_private_append(str(hard))
    loose = tmp_path / "loose.log"
    loose.write_text("")
    loose.chmod(0o644)
    fd = reg.open_private_append(str(loose))
    os.close(fd)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_registry_prunes_stale_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(tmp_path / "rt"))
    me = os.getpid()
    common: dict[str, Any] = dict(
        signal=10, uid="", path="", parent_uid="", root_uid="", parent_pid=1, is_root=True,
        actor=False, log_path="",
    )  # fmt: skip
    live = reg.Entry(pid=me, start_time=reg.proc_start_time(me), name="me", **common)
    reused = reg.Entry(pid=os.getppid(), start_time=1, name="reused", **common)
    dead_pid = 2**22 + 17  # above the default pid_max
    dead = reg.Entry(pid=dead_pid, start_time=None, name="dead", **common)
    for e in (live, reused, dead):
        assert reg.register(e)
    assert [e.name for e in reg.entries()] == ["me"]
    assert sorted(os.listdir(tmp_path / "rt")) == [f"{me}.json"]


def test_the_coalescing_window_is_settable() -> None:
    """The handler a process installs coalesces over DEVX_STACK_DUMP_COALESCE."""
    code = (
        "from devx.debug.stack import handler as stack; stack.enable_stack_on_sig(); "
        "print(stack._state.coalesce_s); stack.disable_stack_on_sig()"
    )
    assert run_script("-c", code, DEVX_STACK_DUMP_COALESCE="2.5").stdout.strip() == "2.5"
    assert run_script("-c", code).stdout.strip() == str(stack.COALESCE_S)
    bad = run_script("-c", code, DEVX_STACK_DUMP_COALESCE="soon")
    assert bad.returncode != 0 and "DEVX_STACK_DUMP_COALESCE" in bad.stderr, bad.stderr


def test_stackscope_version_is_read_without_importlib_metadata() -> None:
    """The version a dump names when stackscope falls short (Python 3.13) comes from its
    dist-info directory: importing importlib.metadata and scanning every distribution
    cost 3/4 of an actor's first dump."""
    code = (
        "import sys\n"
        "from devx.debug.stack import handler\n"
        "v = handler._stackscope_version()\n"
        "assert 'importlib.metadata' not in sys.modules, 'importlib.metadata imported'\n"
        "from importlib import metadata\n"
        "assert v == metadata.version('stackscope'), v\n"
        "print('version', v)\n"
    )
    out = run_script("-c", code, PYTHONWARNINGS="ignore")
    assert out.returncode == 0 and "version " in out.stdout, out.stderr


def test_a_parked_call_worker_reads_parked_not_unstarted() -> None:
    """A worker task parked between calls (runtime/workers) hides its loop's frames:
    the dump's task lines say it is parked, not that it never started (which is what
    a hang dump's reader looks for)."""
    import stackscope

    from devx.debug.stack import brief, handler
    from devx.runtime.workers import IDLE_NAME, CallWorkers

    async def quick() -> None:
        await trio.lowlevel.checkpoint()

    async def main() -> tuple[str, str]:
        workers = CallWorkers()
        async with trio.open_nursery() as nursery:
            workers.start_soon(nursery, "a call", quick)
            while not any(t.name == IDLE_NAME for t in nursery.child_tasks):
                await trio.lowlevel.checkpoint()
            root = trio.lowlevel.current_root_task()
            me = trio.lowlevel.current_task()
            lines, _ = brief.task_summary(root, me, os.path.dirname(trio.__file__))
            (parked_task,) = [t for t in nursery.child_tasks if t.name == IDLE_NAME]
            # the stackscope section's task line (the full dump's, on every Python)
            line = handler._describe_task(stackscope.extract(parked_task))
            workers.close()
        return lines, line

    lines, line = trio.run(main)
    parked = f"task {IDLE_NAME!r}: parked, serves the next call"
    assert parked in lines and f"task {IDLE_NAME!r}: not started" not in lines
    assert line == parked


def test_a_dead_processs_log_under_our_pid_is_dropped_at_install() -> None:
    """A reused pid: the /tmp dump log a dead process with our pid left (written
    before we started) goes when we install the handler, so our dumps do not follow
    its; one written after we started (ours) stays."""
    code = textwrap.dedent(
        """
        import os, sys, time
        from devx.debug.stack import registry as reg
        import devx
        path = reg.log_path()
        with open(path, "w") as f:
            f.write("a dead process's dump\\n")
        old = time.time() - 3600
        os.utime(path, (old, old))
        devx.debug.enable_stack_on_sig()
        print("stale:", "kept" if os.path.exists(path) else "dropped")
        from devx.debug import stack
        stack.disable_stack_on_sig()
        with open(path, "w") as f:  # now written after our start: ours
            f.write("ours\\n")
        devx.debug.enable_stack_on_sig()
        print("ours:", "kept" if os.path.exists(path) else "dropped")
        os.unlink(path)
        """
    )
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=scaled(60))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["stale: dropped", "ours: kept"], proc.stdout


def test_dump_logs_older_than_the_retention_are_pruned() -> None:
    """Every process that dumped leaves a /tmp log (for CI to collect): the root's
    retention pass removes the caller's logs older than DEVX_TELEMETRY_KEEP_DAYS."""
    import time

    now = time.time()
    old = Path(reg.log_path(2**31 + os.getpid()))  # a pid no process has
    fresh = Path(reg.log_path(2**31 + os.getpid() + 1))
    try:
        for path, age_days in ((old, 8), (fresh, 6)):
            path.write_text("dump\n")
            os.utime(path, (now - age_days * 86400, now - age_days * 86400))
        removed = reg.prune_logs(7.0, now=now)
        assert str(old) in removed and not old.exists()
        assert fresh.exists() and str(fresh) not in removed
        assert reg.prune_logs(0, now=now) == [] and fresh.exists()  # 0: keep them all
    finally:
        for path in (old, fresh):
            path.unlink(missing_ok=True)
