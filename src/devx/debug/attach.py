"""A REPL without a terminal that waits for ``devx attach`` (``DEVX_ATTACH=1`` or
``open_root_actor(attach=True)``).

A tree with no terminal (a CI job, a daemon, ``nohup``) would skip its REPLs. In attach
mode the REPL that holds the tree's TTY lock (FIFO, as always) instead listens on
``attach-<root uuid16>.sock`` in the private runtime directory (0700, owner checked)
and waits for a client of the same user (``SO_PEERCRED``) that presents the tree's
secret (``attach-<root uuid16>.key``, 0600 beside it). The client's lines become the
REPL's input, the REPL's output goes to the client (:mod:`devx.debug.attach_protocol`);
the others keep waiting for the lock. A client that goes away, or detaches with
ctrl-\\, gives the REPL back: it waits for the next client, at the same line. Nobody
within ``DEVX_ATTACH_TIMEOUT`` s (0: no deadline): the REPL is skipped as without a
terminal, with a line saying so. That bound is the tree's, not each REPL's: the time
its REPLs waited with nobody attached adds up (``attach-<root uuid16>.waited``, beside
the key), so a CI job whose eight workers crash waits the timeout once, not eight
times; a client that attaches starts it afresh.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import select
import socket
import struct
import sys
import time
from collections.abc import Iterator
from typing import Any

import msgspec

from ..core import schema, settings
from . import attach_protocol as proto
from . import terminal
from .lock_protocol import ReleaseHow
from .stack import registry as reg
from .waiters import shielded_text

__tracebackhide__ = True

HELLO_TIMEOUT = 5.0  # a connection has this long to say Hello
CLOSED_POLL_S = 0.25  # while nobody is attached: how often the tree's end is looked for


def enabled() -> bool:
    return settings.current().attach


def waits_for_client() -> bool:
    """This process's REPLs wait for ``devx attach``: attach mode, and no terminal."""
    try:
        tty = sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        tty = False
    return enabled() and not tty


def paths(root_uuid: str, *, create: bool = False) -> tuple[str, str] | None:
    """The socket and key file of the tree whose root is ``root_uuid``."""
    base = reg.runtime_dir(create=create)
    if base is None:
        return None
    stem = os.path.join(base, f"{proto.PREFIX}{root_uuid[:16]}")
    return stem + ".sock", stem + ".key"


def forget_tree(root_uuid: str) -> None:
    """The root's exit: the tree's attach files go (its key, and a socket or client
    note a holder killed in its REPL left); the key of every attach-mode tree stayed."""
    where = paths(root_uuid)
    if where is None:
        return
    for path in (*where, client_path(where[0]), waited_path(where[0])):
        with contextlib.suppress(OSError):
            os.unlink(path)


def waited_path(sock_path: str) -> str:
    """Beside the socket: how long the tree's REPLs waited with nobody attached since
    a client last attached (JSON, ``waited_s``): the rest of DEVX_ATTACH_TIMEOUT is
    what the next REPL waits."""
    return sock_path[: -len(".sock")] + ".waited"


def client_path(sock_path: str) -> str:
    """Beside the socket: who is attached now (``devx ps`` shows it), while one is."""
    return sock_path[: -len(".sock")] + ".client"


def attached_client(root_uuid: str) -> tuple[int, str] | None:
    """The pid and tty of the ``devx attach`` client attached to the tree's REPL now,
    ``None`` when none is (or it is gone)."""
    import json

    where = paths(root_uuid)
    if where is None:
        return None
    try:
        fd = os.open(client_path(where[0]), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read())
        pid, tty = int(data["pid"]), str(data.get("tty", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, tty) if reg.pid_alive(pid) else None


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


# the characters of the REPL's output sent in one Out: at most 4 bytes each in UTF-8,
# so a piece and its framing stay well inside attach_protocol.MAX_FRAME
OUT_CHARS = 128 * 1024


def _why_gone(conn: socket.socket) -> str:
    """Why the client's connection broke: it detached (a ctrl-\\ while a step ran:
    the client left at once, its Detach still unread here) or went away."""
    try:
        conn.setblocking(False)
        while True:
            if isinstance(proto.recv(conn), proto.Detach):
                return "the client detached"
    except Exception:  # nothing more to read: it closed, or was killed
        return "the client went away"


_ESCAPE = re.compile(r"\n?\x1b(\[[0-9;?]*)?$")  # a control sequence a cut would split


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` in pieces that each fit a frame (a `p` of a big value: its text alone
    may pass attach_protocol.MAX_FRAME, which the client takes for a stranger's), never
    cut inside a colour or cursor sequence (a client without a terminal strips those);
    each with whether it is the last."""
    at = 0
    while True:
        end = at + OUT_CHARS
        if end >= len(text):
            yield text[at:], True
            return
        split = _ESCAPE.search(text, max(at, end - 32), end)
        if split is not None and split.start() > at:
            end = split.start()
        yield text[at:end], False
        at = end


# pdb's commands that read with input() or write to sys.stdout/stderr themselves
# (`interact`'s console, `clear`'s confirmation): the client is their terminal
_OWN_STDIO = ("do_interact", "do_clear", "do_cl")

# the process's own stdout while such a command has the client's: what is said for
# a log reader still goes there
_own_stdout: Any = None


def _out(text: str) -> None:
    """A line for the process's own output (a log reader sees what happened)."""
    out = _own_stdout or sys.stdout
    with contextlib.suppress(OSError, ValueError):
        out.write(terminal.fit(text, terminal.columns(out)))
        out.flush()


class AttachedIO:
    """pdb's ``stdin`` and ``stdout`` while a client is attached (one at a time)."""

    def __init__(self, actor: Any, sock_path: str, key_path: str) -> None:
        self.actor = actor
        self.path = actor.path
        self.sock_path, self.key_path = sock_path, key_path
        self.listener: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.client_pid = 0
        self.client_tty = ""
        # the client's terminal width (its hello; 0: none): terminal.columns() of this
        # stream, so the REPL's banners and lines fit the client's terminal
        self.terminal_columns = 0
        self.banner = ""  # sent again to a client that attaches to a live REPL
        self.prompt = "(Pdb+) "
        self.timeout = settings.current().attach_timeout
        # what the tree's REPLs waited with nobody attached before this one (its share
        # of the timeout is what is left: see the module's docstring)
        self.waited_before = self._tree_waited() if self.timeout > 0 else 0.0
        self.waited_s = 0.0
        self.pdb: Any = None  # the REPL this client is the terminal of
        self.pending: list[str] = []  # lines of one Line not read yet
        self.ended = ""  # why wait_client gave up: "timeout", or "closed" (tree ending)
        self.sigterm = False  # it gave up on the root's SIGTERM (the root's own wait)

    # --- the listening side ------------------------------------------------------

    def listen(self) -> None:
        self._forget_client()  # (a holder killed while a client was attached)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sock_path)  # a holder killed before it cleaned up
        fd = os.open(
            self.key_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600
        )
        try:
            reg.write_all(fd, self.actor.secret.encode())
        finally:
            os.close(fd)
        os.replace(self.key_path + ".tmp", self.key_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            proto.unix_address(self.sock_path, sock.bind)
        finally:
            os.umask(old)
        sock.listen(4)
        self.listener = sock

    def _tree_waited(self) -> float:
        import json

        try:
            fd = os.open(waited_path(self.sock_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                return max(0.0, float(json.loads(f.read())["waited_s"]))
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def _tree_waits(self, seconds: float) -> None:
        """The tree's REPLs waited ``seconds`` with nobody attached in all (0: a
        client attached: the timeout starts afresh)."""
        path = waited_path(self.sock_path)
        with contextlib.suppress(OSError):
            if seconds <= 0:
                os.unlink(path)
            else:
                reg.write_json_private(path, {"waited_s": round(seconds, 3)})

    @property
    def time_left(self) -> float | None:
        """What is left of the tree's DEVX_ATTACH_TIMEOUT (None: no deadline)."""
        return max(0.0, self.timeout - self.waited_before) if self.timeout > 0 else None

    def _forget_client(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(client_path(self.sock_path))

    def close(self, how: ReleaseHow = "continue") -> None:
        """The REPL ended: tell the client (it looks for the next one), stop listening."""
        self._forget_client()
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                proto.send(conn, proto.Done(how=how))
            conn.close()
        self.stop_listening()
        pdb, self.pdb = self.pdb, None
        if pdb is not None and pdb.stdin is self:  # its next REPL has its own terminal
            pdb.stdin, pdb.stdout = sys.stdin, sys.stdout

    def stop_listening(self) -> None:
        """Free the tree's attach socket (the next REPL in line listens there)."""
        sock, self.listener = self.listener, None
        if sock is not None:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sock_path)

    def _accept(self) -> socket.socket | None:
        """One connection, checked: same user, the tree's secret. A refused one is
        told why; ``None`` then."""
        assert self.listener is not None
        conn, _ = self.listener.accept()
        try:
            uid = _peer_uid(conn)
            if uid is not None and uid != os.geteuid():
                _out(f"[devx] {self.path}: refused a `devx attach` connection from uid {uid}\n")
                proto.send(conn, proto.Refused(why="not the tree's user"))
                conn.close()
                return None
            conn.settimeout(HELLO_TIMEOUT)
            hello = proto.recv(conn)
            conn.settimeout(None)
            if not isinstance(hello, proto.Hello) or not hmac.compare_digest(
                hello.secret.encode(), self.actor.secret.encode()
            ):
                proto.send(conn, proto.Refused(why="not this tree's secret"))
                conn.close()
                return None
            if self.conn is not None:
                on = f" on {self.client_tty}" if self.client_tty else ""
                why = (
                    f"already attached by pid {self.client_pid}{on} to {self.path}: "
                    "ctrl-\\ there detaches it"
                )
                proto.send(conn, proto.Refused(why=why))
                conn.close()
                return None
            self.client_pid, self.client_tty = hello.pid, hello.tty
            self.terminal_columns = max(0, hello.columns)
            proto.send(conn, proto.Welcome(path=self.path, pid=os.getpid()))
            return conn
        except (OSError, proto.Closed, ValueError, msgspec.MsgspecError) as exc:
            _out(f"[devx] {self.path}: a `devx attach` connection failed: {exc!r}\n")
            conn.close()
            return None

    def wait_client(self) -> bool:
        """Until a client attaches (True), or the deadline passes or the tree ends
        with no REPL (False; ``self.ended`` says which)."""
        t0 = time.monotonic()
        share = self.time_left
        deadline = t0 + share if share is not None else None
        while self.conn is None:
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or self.listener is None:
                self.ended = "timeout"
                if share is not None:
                    self.waited_before += time.monotonic() - t0
                    self._tree_waits(self.waited_before)
                return False
            if self._tree_closed():
                self.ended = "closed"
                if share is not None:
                    self.waited_before += time.monotonic() - t0
                    self._tree_waits(self.waited_before)
                return False
            # this wait blocks the actor's loop, which then reads no push of the lock:
            # the root's lock file says when the tree ends with no REPL (interrupted
            # while nobody was attached, see devx.debug.sigint), read between waits
            wait = CLOSED_POLL_S if left is None else min(left, CLOSED_POLL_S)
            ready, _, _ = select.select([self.listener], [], [], wait)
            if ready:
                self.conn = self._accept()
        self.waited_s = time.monotonic() - t0
        if self.timeout > 0:  # somebody is there: the tree's timeout starts afresh
            self.waited_before = 0.0
            self._tree_waits(0.0)
        with contextlib.suppress(OSError):  # (only what `devx ps` says)
            reg.write_json_private(
                client_path(self.sock_path), {"pid": self.client_pid, "tty": self.client_tty}
            )
        tty = f" on {self.client_tty}" if self.client_tty else ""
        _out(f"[devx] {self.path}: `devx attach` pid {self.client_pid}{tty} attached\n")
        return True

    def serve_pdb(self, pdb: Any, banner: str) -> None:
        """Make this client ``pdb``'s terminal; the REPL's end tells it ``Done``."""
        self.banner = banner
        self.pdb = pdb
        pdb.stdin = pdb.stdout = self
        pdb.use_rawinput = False
        self.prompt = pdb.prompt
        leave = pdb.on_exit
        for name in _OWN_STDIO:
            # (the class's command each time: a REPL served again, back from a
            # `switch`, must not run the previous client's wrapper)
            command = getattr(type(pdb), name, None)
            if command is not None:
                setattr(pdb, name, self._with_client_stdio(command.__get__(pdb)))

        def on_exit(how: ReleaseHow) -> None:
            self.close(how)
            # (use_rawinput stays off: cmd.Cmd's loop ends as it began)
            pdb.stdin, pdb.stdout = sys.stdin, sys.stdout
            for name in _OWN_STDIO:
                pdb.__dict__.pop(name, None)
            if leave is not None:
                leave(how)

        pdb.on_exit = on_exit

    def _with_client_stdio(self, command: Any) -> Any:
        """``command`` run with the client as sys.stdin/stdout/stderr (as pdb does
        for a `!` statement): otherwise what it reads and writes itself is the
        process's own, the tree's /dev/null and log (`interact` ended at once, its
        console's banner and prompts in the log; `clear` answered itself "no")."""

        def run(arg: str) -> Any:
            global _own_stdout
            saved = sys.stdin, sys.stdout, sys.stderr
            _own_stdout = saved[1]
            sys.stdin = sys.stdout = sys.stderr = self
            try:
                return command(arg)
            finally:
                sys.stdin, sys.stdout, sys.stderr = saved
                _own_stdout = None

        return run

    def _tree_closed(self) -> bool:
        """The tree's lock is closed: it ends with no REPL (the root's lock file)."""
        from ..runtime import root_term
        from . import lock_file, sigint

        if self.actor.is_root:  # its own SIGINT handler says so (its loop is blocked)
            if root_term.sigterm_received() and not sigint.unattended_end():
                # a SIGTERM (`docker stop`): its cancel waits for this loop, which
                # this wait blocks; nobody is at the REPL, so it ends, as on a SIGINT
                self.sigterm = True
                sigint.mark_unattended()
                return True
            return sigint.unattended_end()
        with contextlib.suppress(Exception):
            state = lock_file.read(self.actor.root_uid.uuid)
            return state is not None and state.closed
        return False

    # --- what pdb sees ----------------------------------------------------------------

    def write(self, text: str) -> int:
        conn = self.conn
        if conn is not None and text:
            try:
                for piece, last in _pieces(text):
                    prompt = last and text.endswith(self.prompt)
                    proto.send(conn, proto.Out(text=piece, prompt=prompt))
            except OSError:
                self._lost(_why_gone(conn))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        if self.pending:  # the rest of a Line holding several
            return self.pending.pop(0)
        asked: socket.socket | None = None  # the client told that the REPL reads
        while True:
            if self.conn is None and not self._reattach():
                why = "the tree ends" if self.ended == "closed" else "no client attached again"
                _out(f"[devx] {self.path}: {why}: the REPL ends as with 'c'\n")
                return "continue\n"
            assert self.conn is not None
            if asked is not self.conn:
                asked = self.conn
                try:
                    proto.send(self.conn, proto.Read())
                except OSError:
                    self._lost(_why_gone(self.conn))
                    continue
            listener = self.listener  # (None: the socket could not be had back)
            waits = [self.conn] if listener is None else [self.conn, listener]
            ready, _, _ = select.select(waits, [], [])
            if listener is not None and listener in ready:
                self._accept()  # a second client: refused, told by whom
            if self.conn not in ready:
                continue
            try:
                msg = proto.recv(self.conn)
            except (OSError, proto.Closed, ValueError):
                self._lost("the client went away")
                continue
            if isinstance(msg, proto.Line):
                text = msg.text if msg.text.endswith("\n") else msg.text + "\n"
                first, *self.pending = text.splitlines(keepends=True)
                return first
            if isinstance(msg, proto.Eof):
                self.write("\n")
                return ""
            if isinstance(msg, proto.Interrupt):
                self.write(f"\n{shielded_text(self.path)}\n{self.prompt}")
            elif isinstance(msg, proto.Detach):
                self._lost("the client detached")

    def _lost(self, why: str) -> None:
        self._forget_client()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        _out(f"[devx] {self.path}: {why}; the REPL waits for `devx attach` again\n")

    def _reattach(self) -> bool:
        if not self.wait_client():
            return False
        banner = None
        again = getattr(getattr(self.pdb, "session", None), "announce_again", None)
        if again is not None:  # where the REPL stands now, not where it first stopped
            with contextlib.suppress(Exception):  # (else the first banner, as it was)
                banner = again(self.write)
        if banner is None:
            self.write(self.banner)
        self._where_now()
        self.write(self.prompt)
        return True

    def _where_now(self) -> None:
        """Under the banner of a REPL attached again, pdb's stop line as it is now
        (the full path and the source line the banner's location leaves out).
        (On the REPL's own thread: this is its ``readline``.)"""
        pdb = self.pdb
        stack = getattr(pdb, "stack", None)
        if pdb is None or not stack or getattr(pdb, "curframe", None) is None:
            return
        with contextlib.suppress(Exception):  # only a courtesy: never break the REPL
            pdb.print_stack_entry(stack[pdb.curindex])


def tree_ended(session: Any) -> bool:
    """The REPL ``session`` waited for `devx attach` and the tree ended first (said
    in a line by :func:`serve`: no banner saying it goes on)."""
    return getattr(session, "attach_ended", "") == "closed"


def _seconds(s: float | None) -> str:
    """A wait as a line says it: 0.2, 600, 12.3 (a rest of the tree's timeout)."""
    return "0" if s is None else f"{s:g}" if s == round(s, 1) else f"{s:.1f}"


def serve(session: Any, what: str) -> AttachedIO | None:
    """Wait (blocking: the REPL's own wait) for a client to attach to ``session``'s
    REPL; the IO to give pdb, or ``None`` when nobody came in time (said in a line)."""
    actor = getattr(session, "actor", None)
    if actor is None:
        return None  # no actor runtime (a bare process's REPL): no tree to attach to
    where = paths(actor.root_uid.uuid, create=True)
    if where is None:
        why = reg.runtime_dir_problem() or "no private runtime directory"
        _out(f"[devx] {actor.path}: cannot wait for `devx attach`: {why}\n")
        return None
    io = AttachedIO(actor, *where)
    left = io.time_left
    if left is not None and left <= 0:  # the tree waited its DEVX_ATTACH_TIMEOUT already
        session.attach_ended = "timeout"
        _out(
            f"[devx] {actor.path}: {session.reason} at {what}: no REPL, continuing: the "
            f"tree's REPLs waited {io.timeout:g} s for `devx attach` with nobody attached "
            "(DEVX_ATTACH_TIMEOUT, the tree's wait in all)\n"
        )
        return None
    try:
        io.listen()
    except OSError as exc:
        _out(f"[devx] {actor.path}: cannot listen for `devx attach` at {where[0]}: {exc}\n")
        return None
    deadline = ""
    if left is not None:
        rest = ", the rest of the tree's DEVX_ATTACH_TIMEOUT" if io.waited_before > 0 else ""
        deadline = f" (for {_seconds(left)} s{rest})"
    _out(f"[devx] {actor.path}: {session.reason} at {what}: waiting for `devx attach`{deadline}\n")
    blocks = getattr(session, "loop_blocks", None)
    if blocks is not None:  # the root's wait blocks its loop: `devx ps` sees the hold
        blocks()
    try:
        came = io.wait_client()
    except BaseException:  # (a SIGINT ending a tree nobody attached to)
        io.close()
        raise
    if not came:
        io.close()
        session.attach_ended = io.ended
        if io.sigterm:
            _out(
                f"[devx] {actor.path}: SIGTERM while its REPL waited for `devx attach` with "
                "nobody attached: the tree ends, no REPL\n"
            )
        elif io.ended == "closed":
            _out(f"[devx] {actor.path}: the tree ends with nobody attached: no REPL\n")
        else:
            bound = "DEVX_ATTACH_TIMEOUT"
            if left is not None and left < io.timeout:  # (others of the tree waited first)
                bound = f"the rest of the tree's DEVX_ATTACH_TIMEOUT, {io.timeout:g} s in all"
            _out(
                f"[devx] {actor.path}: nobody attached within {_seconds(left)} s ({bound}): "
                "no REPL, continuing\n"
            )
        return None
    session.attached = io
    span = getattr(session, "_lock_span", None)
    if span is not None:
        span.set(
            **{
                schema.ATTACH_CLIENT_PID: io.client_pid,
                schema.ATTACH_CLIENT_TTY: io.client_tty,
                schema.ATTACH_WAIT_S: io.waited_s,
            }
        )
    return io
