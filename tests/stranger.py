"""Another local user holding idle connections to a tree's listener (issue 24): a
process forked from the test and set to uid 65534, as an attacker on the same host
would be. It opens ``n`` TCP connections that say nothing, opens a new one for each
that is closed, replaces each one before the tree's pre-authentication timeout would
close it (so that it never frees a place by itself), and reports what it saw when
asked, and when told to stop."""

from __future__ import annotations

import encodings.idna  # noqa: F401  (socket's host encoding: the stranger cannot import it)
import os
import select
import socket
import sys
import time

import trio

NOBODY = 65534
RENEW_PAUSE = 0.002  # an attacker's pace when renewing (without it: a busy loop)


class Stranger:
    """Fork (before the tree opens: nothing of trio runs in the child), become
    ``uid``; :meth:`attack` gives it the address and waits until it holds ``n``."""

    def __init__(self, n: int, renew_after: float, uid: int = NOBODY):
        self.n = n
        self._cmd_r, self._cmd_w = os.pipe()
        self._out_r, self._out_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the stranger: plain syscalls only, then _exit
            code = 1
            try:
                os.close(self._cmd_w)
                os.close(self._out_r)
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                _run(n, renew_after, self._cmd_r, self._out_w)
                code = 0
            except BaseException as exc:
                os.write(self._out_w, f"FAILED {type(exc).__name__}: {exc}\n".encode())
            finally:
                os._exit(code)
        os.close(self._cmd_r)
        os.close(self._out_w)
        self._out = trio.lowlevel.FdStream(self._out_r)
        self._buf = b""

    async def _line(self) -> str:
        while b"\n" not in self._buf:
            chunk = await self._out.receive_some(4096)
            if not chunk:
                raise EOFError(f"the stranger ended: {self._buf!r}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    async def attack(self, addr: tuple[str, int]) -> str:
        os.write(self._cmd_w, f"{addr[0]} {addr[1]}\n".encode())
        return await self._line()  # "READY <uid> <n>"

    async def renewed(self) -> int:
        """How many of its connections the tree has closed so far (each renewed)."""
        os.write(self._cmd_w, b"?")
        return int((await self._line()).split()[1])  # "RENEWED <k> OPEN <n>"

    async def stop(self) -> str:
        """Tell it to stop: its report, "RENEWED <k> OPEN <n>"."""
        os.close(self._cmd_w)
        report = await self._line()
        await self._out.aclose()
        await trio.to_thread.run_sync(os.waitpid, self.pid, 0)
        return report


def _run(n: int, renew_after: float, cmd: int, out: int) -> None:
    host, port = os.read(cmd, 200).decode().split()
    socks: dict[int, tuple[socket.socket, float]] = {}  # fd -> (socket, opened at)

    def open_one() -> None:
        s = socket.create_connection((host, int(port)))
        socks[s.fileno()] = (s, time.monotonic())

    def renew(fd: int) -> None:
        s, _ = socks.pop(fd)
        s.close()
        time.sleep(RENEW_PAUSE)
        open_one()

    for _ in range(n):
        open_one()
    os.write(out, f"READY {os.getuid()} {len(socks)}\n".encode())
    renewed = 0
    while True:
        oldest = min(t for _, t in socks.values())
        wait = max(0.0, oldest + renew_after - time.monotonic())
        ready, _, _ = select.select([cmd, *socks], [], [], wait)
        if cmd in ready:
            os.write(out, f"RENEWED {renewed} OPEN {len(socks)}\n".encode())
            if os.read(cmd, 1):  # a question: the count so far; the pipe closed: stop
                continue
            for s, _ in socks.values():
                s.close()
            return
        for fd in ready:  # closed by the tree (nothing else comes)
            renew(fd)
            renewed += 1
        now = time.monotonic()
        for fd in [fd for fd, (_, t) in socks.items() if now - t >= renew_after]:
            renew(fd)


if __name__ == "__main__":
    sys.exit("imported by the tests, not run")
