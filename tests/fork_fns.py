"""Functions the fork-server tests run in child actors."""

from __future__ import annotations

import gc
import os
import random
import resource
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator

import trio

import devx


def _status_fields() -> dict[str, str]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            out[key] = val.strip()
    return out


def _fd_identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _handler_name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


async def proc_state() -> dict:
    """What a child actor process looks like from inside: what a forked child must
    share with a spawned one, and what must be its own (once the child's SIGTERM
    watch, a task started at boot, has installed its handler)."""
    while signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        await trio.sleep(0)
    status = _status_fields()
    return {
        "pid": os.getpid(),
        "os_ppid": os.getppid(),
        "parent_pid": devx.current_actor().lineage.parent_pid,
        "sig_blocked": status["SigBlk"],
        "sig_ignored": status["SigIgn"],
        "sig_caught": status["SigCgt"],
        "handlers": {
            signal.Signals(s).name: _handler_name(signal.getsignal(s))
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP)
        },
        "pgrp": os.getpgrp(),
        "sid": os.getsid(0),
        "stdio": [_fd_identity(fd) for fd in (0, 1, 2)],
        "cwd": os.getcwd(),
        "umask": status["Umask"],
        "env": {k: os.environ.get(k) for k in ("DEVX_ACTOR", "FS_TEST_VAR", "TRACEPARENT")},
        "environ": list(os.environ.items()),  # all of it, in its order
        "threads": sorted(t.name for t in threading.enumerate()),
        "random": random.random(),
        "sys_path_has_tests": any(p.endswith("tests") for p in sys.path),
        "comm": open("/proc/self/comm").read().strip(),
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "gc": [gc.isenabled(), list(gc.get_threshold())],  # (a spare imports with it off)
    }


def socket_inodes(pid: int) -> list[int]:
    """Inodes of the sockets ``pid`` holds (its own pid: ``os.getpid()``)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.append(int(link[8:-1]))
    return out


def my_socket_inodes() -> list[int]:
    return socket_inodes(os.getpid())


async def nested_states() -> list[dict]:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("sub", enable_modules=[__name__])
        return [await proc_state(), await portal.run(proc_state)]


async def stall_while_children_die(n: int, flood: int, release: str) -> AsyncIterator[object]:
    """Spawn ``n`` children and yield their pids; send the fork server ``flood``
    frames it cannot read (each earns a refusal), then block this actor's loop in
    sync code until the file ``release`` exists (the caller kills the children
    meanwhile: the refusals and exit reports wait unread); then yield the children's
    exit codes and why the fork server connection is lost (``None``: it is not)."""
    import socket as socket_mod

    from devx.runtime import forkserver

    client = forkserver.current_client()
    assert client is not None

    recs = []
    try:
        async with devx.open_nursery() as an:
            for i in range(n):
                await an.start_actor(f"gc{i}", enable_modules=[__name__])
            recs = an.children
            yield [rec.pid for rec in recs]
            raw = socket_mod.socket(fileno=os.dup(client._sock.fileno()))
            with raw:
                raw.setblocking(True)
                raw.settimeout(30)
                for _ in range(flood):
                    raw.send(b"\xc1")  # never valid msgpack
            while not os.path.exists(release):  # the loop is blocked: nothing is read
                time.sleep(0.01)
    except Exception:  # ActorExited: they were killed
        pass
    yield {
        "codes": [rec.exit_code for rec in recs],
        "lost": client.lost if client is not None else "no fork server",
    }


def kernel_view(pid: int) -> dict:
    """What the kernel says of ``pid``: its process group and session
    (``/proc/<pid>/stat``), its ignored, caught and blocked signals (``status``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            status[key] = val.strip()
    return {
        "pgrp": int(fields[2]),
        "session": int(fields[3]),
        "SigIgn": status["SigIgn"],
        "SigCgt": status["SigCgt"],
        "SigBlk": status["SigBlk"],
    }


async def child_after_changes() -> dict:
    """Take a process group of its own, set SIGALRM back to the default (the root
    ignores it) and ignore SIGWINCH, then spawn a child: what the kernel says of the
    child and of this actor (the child's requester)."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.signal(signal.SIGWINCH, signal.SIG_IGN)
    async with devx.open_nursery() as an:
        portal = await an.start_actor("leaf", enable_modules=[__name__])
        state = await portal.run(proc_state)  # once its boot set its own handlers
        leaf = kernel_view(state["pid"])
        await an.cancel()
    return {"me": os.getpid(), "leaf": leaf, "leaf_os_ppid": state["os_ppid"]}


def block_in_sync_code(marker: str) -> None:
    """Block this actor's loop (a sync call runs on it) until killed; the file
    ``marker`` exists once it is blocked."""
    with open(marker, "w"):
        pass
    time.sleep(600)


async def dump_path_warmth() -> dict:
    """Whether this actor found the code its first stack dump walks (trio's init and
    run_sync_soon tasks, the dump's own functions) analysed without warming it itself."""
    from trio._core._entry_queue import EntryQueue
    from trio._core._run import Runner

    from devx.debug.stack import handler, memo

    codes = [Runner.init, EntryQueue.task, handler._dump_with_trio, handler._render_task_tree]
    return {
        "warmed_ahead": handler._warmed_ahead,
        "cached": [memo.is_cached(f.__code__) for f in codes],
    }
