"""``devx attach``'s wire protocol, written down once as types: length-prefixed
msgpack frames (4-byte big-endian length) over a Unix socket in the private runtime
directory. The client says :class:`Hello` with the tree's secret; the REPL answers
:class:`Welcome` or :class:`Refused`; then the REPL's output travels as :class:`Out`
and the person's input as :class:`Line` (or :class:`Eof` for ctrl-d,
:class:`Interrupt` for ctrl-c, :class:`Detach` for ctrl-\\); :class:`Read` says the REPL
reads a line now (a client whose input is no terminal sends one line per Read, as a
REPL reading a pipe takes one line per prompt); :class:`Done` says the REPL ended (the
client looks for the next waiting one).

Blocking sockets on purpose: the REPL that serves one blocks its actor's loop as a
REPL on a terminal does."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable

import msgspec

from .lock_protocol import ReleaseHow

PREFIX = "attach-"  # attach-<root uuid>.sock, attach-<root uuid>.key in the runtime dir
MAX_FRAME = 1 << 20


class Hello(msgspec.Struct, tag=True):
    secret: str
    pid: int
    tty: str = ""
    # the client's terminal width, what the REPL lays its lines out in (0: no terminal,
    # or a client from before this field: its text goes as it is, banners in 100)
    columns: int = 0


class Welcome(msgspec.Struct, tag=True):
    path: str  # the actor whose REPL this is
    pid: int


class Refused(msgspec.Struct, tag=True):
    why: str


class Out(msgspec.Struct, tag=True):
    text: str
    # the text ends with the REPL's prompt: from then on a ctrl-c is a press at a
    # prompt (its Read comes after, when pdb reads; the client must not wait for it)
    prompt: bool = False


class Line(msgspec.Struct, tag=True):
    text: str


class Eof(msgspec.Struct, tag=True):
    pass


class Interrupt(msgspec.Struct, tag=True):
    pass


class Detach(msgspec.Struct, tag=True):
    pass


class Read(msgspec.Struct, tag=True):
    pass


class Done(msgspec.Struct, tag=True):
    how: ReleaseHow  # how the REPL ended (the lock's own names)


Msg = Hello | Welcome | Refused | Out | Line | Eof | Interrupt | Detach | Read | Done

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Msg)


def unix_address(path: str, use: Callable[[str], object]) -> None:
    """``use(address)`` (a socket's bind or connect) for ``path``; a path longer than
    a Unix socket address may be (108 bytes) goes through its directory's open fd
    (``/proc/self/fd/N/name``, Linux)."""
    if len(os.fsencode(path)) < 100:
        use(path)
        return
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        use(f"/proc/self/fd/{fd}/{os.path.basename(path)}")
    finally:
        os.close(fd)


class Closed(ConnectionError):
    """The other side went away."""


def send(sock: socket.socket, msg: Msg) -> None:
    data = _enc.encode(msg)
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed("the other side closed the connection")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket) -> Msg:
    """The next message; :class:`Closed` at the end, ``msgspec.ValidationError`` /
    ``DecodeError`` for a malformed one."""
    (n,) = struct.unpack(">I", _exact(sock, 4))
    if n > MAX_FRAME:
        raise Closed(f"a frame of {n} bytes: not a devx attach peer")
    return _dec.decode(_exact(sock, n))
