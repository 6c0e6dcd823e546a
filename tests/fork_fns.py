"""Functions the fork-server tests run in child actors."""

from __future__ import annotations

import os
import random
import signal
import sys
import threading

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
        "threads": sorted(t.name for t in threading.enumerate()),
        "random": random.random(),
        "sys_path_has_tests": any(p.endswith("tests") for p in sys.path),
        "comm": open("/proc/self/comm").read().strip(),
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
