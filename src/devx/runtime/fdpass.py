"""File descriptors passed over a Unix socket (``SCM_RIGHTS``), both directions of
the fork server's socket: the requester's stdio and pipes to the zygote, the forked
child's pidfd back."""

from __future__ import annotations

import array
import socket

Ancillary = list[tuple[int, int, bytes]]


def rights(fds: list[int] | None) -> list[tuple[int, int, array.array[int]]]:
    """The ancillary data that passes ``fds`` with one ``sendmsg`` (none for none)."""
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []


def fds_of(anc: Ancillary) -> list[int]:
    """The descriptors a ``recvmsg`` received (now open in this process: the caller
    owns them and must close what it does not keep)."""
    fds: list[int] = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
            fds.extend(arr)
    return fds
