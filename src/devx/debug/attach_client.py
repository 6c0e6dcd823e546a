"""``devx attach [PID|NAME]``: the client side of :mod:`devx.debug.attach`.

Finds a tree of yours whose REPLs wait for a client (``devx ps`` lists them), connects
to the REPL holding its terminal, and is that REPL's terminal: its output here, your
lines there (the terminal stays in its cooked mode, so line editing is the
terminal's own). ctrl-c is sent as ctrl-c (the REPL shields it, as on a terminal),
ctrl-d at an empty line as end of input (as on a terminal), ctrl-\\ detaches and
leaves the REPL waiting; while no REPL is attached (none waits yet, or between two)
ctrl-c or ctrl-\\ leaves. When a REPL ends, the next one of the tree is taken in the
same session; the client ends with the tree. Imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import sys
import time
from typing import Any

import msgspec

from . import attach_protocol as proto
from . import terminal
from .lock_file import TreeLock, trees

POLL_S = 0.05


class AttachError(Exception):
    """Why there is nothing to attach to; the message says what to do."""


def _command(pid: int) -> str:
    """The root's command line, on one line (as `devx ps` shows it)."""
    from .stack.registry import proc_cmdline

    text = " ".join(proc_cmdline(pid) or ())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _listed(waiting: list[TreeLock]) -> str:
    return "; ".join(f"{t.name} (pid {t.pid}): {_command(t.pid) or '?'}" for t in waiting)


def pick_tree(target: str | None) -> TreeLock:
    """The tree ``target`` names (the root's pid or name, else a pattern searched in
    the roots' command lines, as `devx dump` takes it); without one, the only tree
    waiting for an attach."""
    waiting = [t for t in trees() if t.attach]
    found = waiting
    if target:
        found = [t for t in waiting if str(t.pid) == target or t.name == target]
        if not found and not target.isdigit():
            try:
                rx = re.compile(target)
            except re.error:
                rx = re.compile(re.escape(target))
            found = [t for t in waiting if rx.search(_command(t.pid))]
    if not found:
        from .stack.registry import runtime_dir, runtime_dir_problem

        problem = runtime_dir_problem()
        if problem is not None:
            raise AttachError(f"attach: {problem}")
        what = f" matching {target!r}" if target else ""
        others = f"; waiting: {_listed(waiting)}" if waiting else ""
        where = runtime_dir(create=False)
        looked = f" in {where}" if where else ""
        raise AttachError(
            f"attach: no tree of yours{what} waits for `devx attach`{looked} (`devx ps` lists "
            "the trees; a tree waits when it runs with DEVX_ATTACH=1 and no terminal, and "
            "registers in the DEVX_RUNTIME_DIR it was started with: give this one the same)"
            f"{others}"
        )
    if len(found) > 1:
        raise AttachError(f"attach: {len(found)} trees wait: {_listed(found)}; name one by its pid")
    return found[0]


def _alive(tree: TreeLock) -> bool:
    return any(t.pid == tree.pid for t in trees())


class _Left(Exception):
    """ctrl-c or ctrl-\\ while no REPL is attached: the client leaves."""


def _connect(tree: TreeLock, keys: _Keys, first: bool) -> socket.socket | None:
    """The REPL waiting now, once there is one (``None``: the tree ended); the first
    time round, says so when none waits yet."""
    from .attach import paths

    where = paths(tree.root_uuid)
    if where is None:
        raise AttachError("attach: your private runtime directory is missing or unsafe")
    sock_path, key_path = where
    said = not first
    while True:
        if keys.leaving:
            raise _Left
        try:
            with open(key_path, encoding="ascii") as f:
                secret = f.read().strip()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                proto.unix_address(sock_path, sock.connect)
            except OSError:
                sock.close()
                raise
            return _hello(sock, secret, keys)
        except (FileNotFoundError, ConnectionError, proto.Closed):
            # no REPL listens yet, or the one that did ended while we knocked (refused,
            # reset, or a broken pipe when it closed as our hello went out)
            if not _alive(tree):
                return None
            if not said:
                _say(
                    f"[devx attach] no REPL of tree {tree.name!r} (pid {tree.pid}) waits yet: "
                    "waiting for one (ctrl-c or ctrl-\\ leaves)\n"
                )
                said = True
            time.sleep(POLL_S)


def _hello(sock: socket.socket, secret: str, keys: _Keys) -> socket.socket:
    tty = ""
    with contextlib.suppress(OSError):
        tty = os.ttyname(sys.stdin.fileno())
    columns = terminal.columns(sys.stdout) or 0  # (its size when the client attaches)
    proto.send(sock, proto.Hello(secret=secret, pid=os.getpid(), tty=tty, columns=columns))
    reply = proto.recv(sock)
    if isinstance(reply, proto.Refused):
        sock.close()
        raise AttachError(f"attach: refused: {reply.why}")
    if not isinstance(reply, proto.Welcome):
        sock.close()
        raise AttachError(f"attach: unexpected answer {type(reply).__name__}")
    keys.path, keys.pid = reply.path, reply.pid
    _say(f"[devx attach] attached to {reply.path} (pid {reply.pid}); ctrl-\\ detaches\n")
    return sock


def _say(text: str) -> None:
    sys.stdout.write(terminal.fit(text, terminal.columns(sys.stdout)))
    sys.stdout.flush()


# what the REPL writes for a terminal: pdbp's "newline, cursor up" after a listing
# (nothing on screen) and colour or cursor sequences
_SCREEN = re.compile(r"\n\x1b\[F|\x1b\[[0-9;?]*[A-Za-z]")


def _for_output(text: str) -> str:
    """The REPL's output as this client's stdout takes it: as it came on a terminal;
    else (a pipe, a file: a scripted attach's transcript) without the terminal's
    control sequences, which the REPL's process writes whatever the client is."""
    try:
        if sys.stdout.isatty():
            return text
    except (AttributeError, ValueError):
        pass
    return _SCREEN.sub("", text)


class _Keys:
    """ctrl-c and ctrl-\\ as messages to the REPL while attached; while waiting for
    one, either leaves. ctrl-c while the REPL shows no prompt (a step runs) is what
    it is on a terminal there: a SIGINT to the REPL's process, whose handler counts it
    (three within 2 s end the tree); sent as a message it waited in the socket and
    was shown at the next prompt, once per press, as a shielded ctrl-c."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.detach = False
        self.leaving = False
        self.prompt = False  # its prompt is on screen (Out.prompt), no line sent since
        self.path, self.pid = "", 0  # the REPL attached to
        # woken by ctrl-\\: select() is resumed after a signal (PEP 475), so the
        # client would only see the detach once the REPL sent something, which it
        # does not while a step runs
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    def on_int(self, signum: int, frame: Any) -> None:
        if self.sock is None:
            self.leaving = True
            return
        if not self.prompt and self.pid:
            try:
                os.kill(self.pid, signal.SIGINT)
            except OSError:
                return
            _say(
                f"\n[devx attach] ctrl-c: no prompt is on screen ({self.path} runs a "
                "step); 3 ctrl-c within 2 s end the tree\n"
            )
            return
        with contextlib.suppress(OSError):
            proto.send(self.sock, proto.Interrupt())

    def on_quit(self, signum: int, frame: Any) -> None:
        if self.sock is None:
            self.leaving = True
            return
        self.detach = True
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"q")
        with contextlib.suppress(OSError):
            proto.send(self.sock, proto.Detach())


class _Input:
    """The person's input. A terminal's lines go to the REPL as they are typed (its
    line editing is the terminal's; ctrl-d at an empty line is an end of input each
    time). Any other input (a pipe, a file: a scripted attach) goes one line per
    :class:`~.attach_protocol.Read`, as pdb reading a pipe takes one line per prompt,
    each echoed after the prompt; its end is an end of input (ctrl-d) for the REPL
    that reads past it, and for every REPL after that one."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self.tty = os.isatty(self.fd)
        self.buf = b""
        self.ended = False  # (not a terminal) stdin is exhausted
        self.wanted = False  # the REPL asked for a line not yet sent

    def fds(self) -> list[int]:
        return [] if self.ended else [self.fd]

    def read(self) -> list[proto.Msg]:
        """Read what is there; the messages to send now."""
        data = os.read(self.fd, 65536)
        if self.tty:
            if not data:
                return [proto.Eof()]
            return [proto.Line(text=data.decode(errors="replace"))]
        if data:
            self.buf += data
        else:
            self.ended = True
        return self.due()

    def due(self) -> list[proto.Msg]:
        """(Not a terminal) the next line, or the end, when the REPL asked for one."""
        if self.tty or not self.wanted:
            return []
        line, nl, rest = self.buf.partition(b"\n")
        if not nl and not self.ended:
            return []  # a line not complete yet
        self.wanted = False
        if not nl and not line:
            _say("\n")
            return [proto.Eof()]
        self.buf = rest
        text = line.decode(errors="replace") + "\n"
        _say(text)  # the transcript reads as a terminal's would
        return [proto.Line(text=text)]


def _serve(sock: socket.socket, keys: _Keys, stdin: _Input) -> str:
    """One REPL: until it ends (``done``), the client detaches or the REPL goes away."""
    keys.sock = sock
    keys.prompt = False
    stdin.wanted = False  # this REPL asks for its own lines
    broken = False  # a send failed: the REPL is going; read what it said last
    try:
        while True:
            if keys.detach:
                return "detached"
            try:
                waits = [sock.fileno(), keys.wake_r, *([] if broken else stdin.fds())]
                ready, _, _ = select.select(waits, [], [])
            except InterruptedError:
                continue
            if keys.detach:
                return "detached"
            out: list[proto.Msg] = []
            if sock.fileno() in ready:
                try:
                    msg = proto.recv(sock)
                except (OSError, proto.Closed, msgspec.MsgspecError):
                    return "lost"
                if isinstance(msg, proto.Out):
                    # as the REPL wrote it: its devx lines are laid out in this
                    # terminal's width already (the hello's columns), and what pdb
                    # writes (a value, a coloured stop line) is the user's, not ours
                    # to re-flow
                    sys.stdout.write(_for_output(msg.text))
                    sys.stdout.flush()
                    if msg.prompt:  # on screen now: a ctrl-c is a press at the prompt
                        keys.prompt = True
                elif isinstance(msg, proto.Read):
                    # (not a prompt on screen: the Read comes after the prompt's
                    # text, maybe after the line typed at it, which it then asks for)
                    stdin.wanted = True
                    out = stdin.due()
                elif isinstance(msg, proto.Done):  # switched: `switch` in that REPL
                    return msg.how if msg.how in ("switched", "quit") else "done"
            if not broken and stdin.fd in ready:
                out += stdin.read()
            for m in out:
                if isinstance(m, (proto.Line, proto.Eof)):
                    keys.prompt = False  # the REPL runs what it got
                try:
                    proto.send(sock, m)
                except OSError:  # the REPL ended meanwhile: its Done may be waiting
                    broken = True
                    break
    finally:
        keys.sock = None


def run(target: str | None) -> int:
    if sys.stdin is None:  # started with stdin closed (`<&-`, some daemons)
        raise AttachError(
            "attach: stdin is closed: there is nothing to send to the REPL; give it a "
            "terminal, a pipe or a file (`</dev/null` ends the REPL at its first prompt, "
            "as ctrl-d)"
        )
    tree = pick_tree(target)
    keys = _Keys()
    stdin = _Input()
    old_int = signal.signal(signal.SIGINT, keys.on_int)
    old_quit = signal.signal(signal.SIGQUIT, keys.on_quit)
    try:
        served = 0
        while True:
            try:
                sock = _connect(tree, keys, first=served == 0)
            except _Left:
                sock = None
                keys.leaving = True
            else:
                if sock is None:
                    _say(f"[devx attach] tree {tree.name!r} (pid {tree.pid}) ended\n")
                    return 0
            if keys.leaving:  # (a key while the hello went on: that REPL waits again)
                if sock is not None:
                    sock.close()
                _say("\n[devx attach] left; the tree goes on, its REPLs wait for `devx attach`\n")
                return 0
            assert sock is not None
            try:
                how = _serve(sock, keys, stdin)
            finally:
                sock.close()
            served += 1
            if how == "detached":
                _say("\n[devx attach] detached; the REPL waits for the next `devx attach`\n")
                return 0
            if how == "lost":  # (maybe under its prompt: a line of its own)
                _say("\n[devx attach] the REPL went away (its actor ended, or was killed)\n")
            if how == "quit":  # the tree stops: no REPL opens after a quit
                _say("[devx attach] you quit: the tree stops, no REPL of it opens now\n")
            elif how != "switched":  # (the REPL said where the terminal goes)
                _say(
                    "[devx attach] waiting for the next REPL of this tree "
                    "(ctrl-c or ctrl-\\ leaves)\n"
                )
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGQUIT, old_quit)
