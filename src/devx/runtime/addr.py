"""The two ends of a channel as address objects (``chan.laddr``/``chan.raddr``), with
the peer runtime's attribute names: ``proto_key`` (``"tcp"``/``"uds"``) and
``unwrap()`` (devx's plain form: ``(host, port)`` or a socket path, what
:func:`devx.runtime.ipc.connect` takes)."""

from __future__ import annotations

import os
import socket
from typing import Any, ClassVar

import msgspec


class TCPAddress(msgspec.Struct, frozen=True):
    host: str
    port: int
    proto_key: ClassVar[str] = "tcp"

    def unwrap(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class UDSAddress(msgspec.Struct, frozen=True):
    """A Unix socket end. ``sockpath`` is ``""`` for an unnamed end (a child's
    channel to its parent is a socketpair made at the spawn; a connecting client's
    own end). ``maybe_pid``: the process on that end as the kernel reports it
    (``SO_PEERCRED``), for the remote end only."""

    sockpath: str
    maybe_pid: int | None = None
    proto_key: ClassVar[str] = "uds"

    def unwrap(self) -> str:
        return self.sockpath

    def __str__(self) -> str:
        where = self.sockpath or "<unnamed>"
        return f"unix:{where}" + (f" (pid {self.maybe_pid})" if self.maybe_pid else "")


Address = TCPAddress | UDSAddress


def _peer_pid(sock: Any) -> int | None:
    from .ipc import _peercred  # ipc imports this module

    cred = _peercred(sock)
    # a socketpair's credentials are its creator's: on the side that made it they
    # name this very process, which is not the peer
    if cred is None or not cred[0] or cred[0] == os.getpid():
        return None
    return cred[0]


def of_socket(sock: Any, *, remote: bool, pid: int | None = None) -> Address | None:
    """The local or remote end of ``sock`` (a trio or stdlib socket), ``None`` once it
    is closed or for a transport that is not a socket. ``pid``: the peer's, when the
    runtime knows it (its hello), else the kernel is asked."""
    if sock is None:
        return None
    try:
        if sock.fileno() < 0:
            return None
        name = sock.getpeername() if remote else sock.getsockname()
    except OSError:
        return None
    if sock.family == socket.AF_UNIX:
        path = name.decode(errors="replace") if isinstance(name, bytes) else str(name or "")
        return UDSAddress(path, (pid or _peer_pid(sock)) if remote else None)
    if isinstance(name, tuple) and len(name) >= 2:
        return TCPAddress(str(name[0]), int(name[1]))
    return None
