"""Length-prefixed msgspec-msgpack frames over a trio stream (TCP loopback or UDS).

A frame is a 4-byte big-endian length followed by one msgpack-encoded message of the
:data:`~devx.runtime.msgs.Msg` union. Decoding is strict: anything else raises
:class:`~devx.runtime.errors.MsgTypeError` naming the peer, and the caller closes
the connection.

Copies: a frame is encoded straight behind its length prefix (no ``prefix + body``);
small frames are read in bulk into one buffer per channel and decoded in place, a
large one is read straight from the socket into a buffer of its announced size
(kept for the next large frame) and decoded from there, so its bytes are copied
once by the kernel and once by the decoder.

Raw frames: a message whose payload carries a large ``bytes``-like value (a call's
argument, a return value, a streamed item, at the top level of the payload) travels
as a *raw frame*: the message with a placeholder where the value was, then the value's
bytes as they are, written together with one ``sendmsg`` (no copy into an encoding
buffer) and read straight into the ``bytes`` object the message then carries (CPython:
see ``_fresh_bytes``; elsewhere into the channel's large-frame buffer, then copied out
of it). Layout: a 4-byte word
with :data:`RAW_FLAG` set and the header's length, a 4-byte body length, the header
(msgpack, with the placeholder :data:`RAW_EXT` once), the body. The value arrives as
``bytes``, as it would encoded: whatever the sender passed (``bytes``, ``bytearray``,
a contiguous ``memoryview``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from . import addr
from .addr import Address
from .errors import ChannelClosed, IPCEncodeError, MsgTypeError
from .msgs import (
    ActorID,
    CancelCall,
    Error,
    ErrorInfo,
    Msg,
    Return,
    Start,
    Started,
    Stop,
    StreamAck,
    StreamEnd,
    StreamItem,
    StreamOpened,
    Yield,
)

if TYPE_CHECKING:
    import mmap  # (imported by the first frame too large for the shared buffer)

Addr = tuple[str, int] | str  # (host, port) for TCP, a filesystem path for UDS

log = logging.getLogger("devx.runtime")
_VALUE_MSGS = (Return, Yield, Started, StreamItem)  # messages whose ``value`` may go raw
# what a caller holding the read baton delivers itself (see Channel.read_until), besides
# replies: frames for this side's calls (a stream's frame only when it goes to the caller)
_TO_CALLER = frozenset({Yield, Stop, Started, StreamOpened})
_STREAM_MSGS = frozenset({StreamItem, StreamEnd, StreamAck})

MAX_FRAME = 64 * 1024 * 1024
# before a peer has presented the tree's secret only its Hello may be read: a small
# frame, so that unauthenticated connections cannot make an actor buffer MAX_FRAME
MAX_PREAUTH_FRAME = 4096
# a reader, sender or receiver that never has to wait still passes through the
# scheduler once every this many operations (a cancellation point every time)
YIELD_EVERY = 16
# frames up to this size are read in bulk into one buffer of this size per channel;
# a larger one gets a buffer of its own, read into straight from the socket
RECV_BUFFER = 64 * 1024
# raw frames (see the module docstring): a payload value of at least RAW_MIN bytes
# goes as the frame's body; the length word of a raw frame has RAW_FLAG set
RAW_MIN = RECV_BUFFER
RAW_FLAG = 0x8000_0000
RAW_EXT = 77  # the msgpack ext code of the body's placeholder in the header
_RAW_MARK = b"devx-raw"
# a raw frame's header holds the message around the body: small (a call's other
# arguments are in it, so not tiny); a larger one is refused
MAX_RAW_HEADER = RECV_BUFFER - 8
_LEN = struct.Struct(">I")
# a look at what arrived, taking nothing (MSG_DONTWAIT where the platform has it)
_PEEK = socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)
_RAW_LENS = struct.Struct(">II")
_encoder = msgspec.msgpack.Encoder()


class _Evicted(Exception):
    """The reader's wait on the socket was ended to hand a worker the baton."""


class _RawBody:
    """The body of the raw frame being decoded, for the decoder's ext hook."""

    __slots__ = ("taken", "value")

    def __init__(self) -> None:
        self.value: bytes | None = None
        self.taken = False


_raw = _RawBody()


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == RAW_EXT and data == _RAW_MARK and _raw.value is not None:
        if _raw.taken:
            raise ValueError("a raw frame's header refers to its body twice")
        _raw.taken = True
        return _raw.value
    return msgspec.msgpack.Ext(code, bytes(data))  # anyone else's: as without the hook


_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(Msg, ext_hook=_ext_hook)

Frame = bytes | bytearray  # an encoded frame: length prefix, then the message


class RawFrame:
    """An encoded raw frame: ``head`` (the two length words and the header) and
    ``body`` (the payload's own buffer, not copied), written with one ``sendmsg``."""

    __slots__ = ("body", "head")

    def __init__(self, head: bytearray, body: memoryview):
        self.head = head
        self.body = body

    def __len__(self) -> int:
        return len(self.head) + self.body.nbytes


def encode(msg: Any) -> bytearray:
    """Encode one message, framed: the body is written right behind a 4-byte
    placeholder that then gets its length, so a large body is never copied to
    prepend it. Unencodable payloads raise :class:`IPCEncodeError`."""
    frame = bytearray(4)
    try:
        _encoder.encode_into(msg, frame, 4)
    except (TypeError, ValueError, OverflowError, BufferError) as exc:
        raise IPCEncodeError(f"cannot encode {type(msg).__name__} for IPC: {exc}") from None
    size = len(frame) - 4
    if size > MAX_FRAME:
        raise IPCEncodeError(f"{type(msg).__name__} is {size} bytes, over {MAX_FRAME}")
    _LEN.pack_into(frame, 0, size)
    return frame


# the types of a payload value that may travel as a raw frame's body (see pack)
BYTES_LIKE = (bytes, bytearray, memoryview)


def _raw_view(value: Any) -> memoryview | None:
    """``value`` as a flat byte view when it should travel as a raw body."""
    if not isinstance(value, BYTES_LIKE):
        return None
    view = memoryview(value)
    if view.nbytes < RAW_MIN or not view.c_contiguous:
        return None
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


_PLACEHOLDER = msgspec.msgpack.Ext(RAW_EXT, _RAW_MARK)


def pack(msg: Any) -> bytearray | RawFrame:
    """The frame to send ``msg`` in: :func:`encode`'s, or a :class:`RawFrame` when a
    payload value at its top level (``value``; one of a ``Start``'s arguments) is a
    large bytes-like object: the message with a placeholder, then that value's bytes,
    uncopied."""
    kind = type(msg)
    body: memoryview | None = None
    # (_raw_view only for a bytes-like value: a Python call less for every other)
    if kind is Start:
        for key, value in msg.kwargs.items():
            if isinstance(value, BYTES_LIKE) and (body := _raw_view(value)) is not None:
                # every other field as it is (a new one too)
                msg = msgspec.structs.replace(msg, kwargs={**msg.kwargs, key: _PLACEHOLDER})
                break
    elif kind in _VALUE_MSGS:
        if isinstance(msg.value, BYTES_LIKE) and (body := _raw_view(msg.value)) is not None:
            msg = msgspec.structs.replace(msg, value=_PLACEHOLDER)
    if body is None:
        return encode(msg)
    head = bytearray(8)
    try:
        _encoder.encode_into(msg, head, 8)
    except (TypeError, ValueError, OverflowError, BufferError) as exc:
        raise IPCEncodeError(f"cannot encode {type(msg).__name__} for IPC: {exc}") from None
    size = len(head) - 8
    if size > MAX_RAW_HEADER:  # the rest of the payload is large too: no raw frame
        return encode(msg_with(msg, body))
    if size + body.nbytes > MAX_FRAME:
        raise IPCEncodeError(
            f"{type(msg).__name__} is {size + body.nbytes} bytes, over {MAX_FRAME}"
        )
    _RAW_LENS.pack_into(head, 0, RAW_FLAG | size, body.nbytes)
    return RawFrame(head, body)


def msg_with(msg: Any, body: memoryview) -> Any:
    """``msg`` with its placeholder replaced by ``body``'s bytes again."""
    if type(msg) is Start:
        kwargs = {k: (body if v is _PLACEHOLDER else v) for k, v in msg.kwargs.items()}
        return msgspec.structs.replace(msg, kwargs=kwargs)
    return msgspec.structs.replace(msg, value=body)


_bytes_new: Any = None  # PyBytes_FromStringAndSize (set by _fresh_bytes), False: none
_memory_view: Any = None  # PyMemoryView_FromMemory
_bytes_data: Any = None  # PyBytes_AsString: where a bytes object's data is
_PYBUF_WRITE = 0x200


def _fresh_bytes(size: int) -> tuple[bytes, memoryview] | None:
    """A new ``bytes`` object of ``size`` bytes not yet written, and a writable view of
    them: a raw frame's body is read into the object its message then carries, not
    into a buffer it would be copied out of (~1 ms a side for 10 MiB). CPython's C API
    allows it: ``PyBytes_FromStringAndSize(NULL, n)`` makes an object whose contents
    its maker fills before anyone else sees it (here: before the message carrying it
    is decoded; until then only this channel holds it), and ``PyMemoryView_FromMemory``
    is the view (it holds no reference: the caller keeps the object). ``None`` where
    that cannot be had (not CPython, no ctypes, an object layout it does not
    recognise: checked once on a small object): the caller reads into its own buffer
    and copies. The data's address is the C API's (``PyBytes_AsString``), not one
    computed from the object's layout."""
    global _bytes_new, _memory_view, _bytes_data
    if _bytes_new is None:
        _bytes_new = False
        if sys.implementation.name == "cpython":
            try:
                import ctypes

                api, obj, ssize = ctypes.pythonapi, ctypes.py_object, ctypes.c_ssize_t
                new = ctypes.PYFUNCTYPE(obj, ctypes.c_void_p, ssize)(
                    ("PyBytes_FromStringAndSize", api)
                )
                view = ctypes.PYFUNCTYPE(obj, ctypes.c_void_p, ssize, ctypes.c_int)(
                    ("PyMemoryView_FromMemory", api)
                )
                data = ctypes.PYFUNCTYPE(ctypes.c_void_p, obj)(("PyBytes_AsString", api))
                probe = new(None, 8)
                view(data(probe), 8, _PYBUF_WRITE)[:] = b"devx-raw"
                if type(probe) is bytes and probe == b"devx-raw":
                    _bytes_new, _memory_view, _bytes_data = new, view, data
            except Exception:  # any surprise: copy as before
                _bytes_new = False
    if _bytes_new is False:
        return None
    obj = _bytes_new(None, size)
    return obj, _memory_view(_bytes_data(obj), size, _PYBUF_WRITE)


class Mailbox:
    """Replies to one outgoing call: a single-consumer queue much lighter than a
    memory channel (one is made per call, so it is on the round-trip hot path)."""

    __slots__ = ("_items", "_ready_in_a_row", "_waiter", "closed", "direct")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: trio.lowlevel.Task | None = None
        self.closed = False
        self._ready_in_a_row = 0
        # its waiter hands back a read baton lent with its reply (Channel.read_until)
        self.direct = False

    def put(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None:  # (_wake, inlined: a reply's hot path)
            task, self._waiter = self._waiter, None
            trio.lowlevel.reschedule(task)

    def close(self) -> None:
        self.closed = True
        if self._waiter is not None:
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            task, self._waiter = self._waiter, None
            trio.lowlevel.reschedule(task)

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    def lendee(self) -> trio.lowlevel.Task | None:
        """The task to lend the channel's read baton to with a reply (see
        :meth:`Channel.deliver_reply`): the waiter of a ``portal.run``."""
        return self._waiter if self.direct else None

    async def receive(self) -> Any:
        """The next reply; :class:`trio.EndOfChannel` once closed and drained. A
        stream's items that are already here are taken without a scheduler pass
        each (one every :data:`YIELD_EVERY`): that pass was most of their cost."""
        if self._items or self.closed:
            self._ready_in_a_row += 1
            if self._ready_in_a_row >= YIELD_EVERY:
                self._ready_in_a_row = 0
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            self._ready_in_a_row = 0
            # no checkpoint_if_cancelled() first: a task that blocks while cancelled
            # has the cancel delivered at once (through _abort)
            self._waiter = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        if self._items:
            return self._items.popleft()
        raise trio.EndOfChannel

    async def take(self) -> Any:
        """The reply already here (after :meth:`Channel.read_until`), or
        :class:`trio.EndOfChannel`: a cancellation point, no scheduler pass (its
        reader waited on the socket itself)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._items:
            return self._items.popleft()
        raise trio.EndOfChannel

    def receive_nowait(self) -> Any:
        if self._items:
            return self._items.popleft()
        raise trio.EndOfChannel if self.closed else trio.WouldBlock


class CallTable:
    """Outgoing calls on one channel: cid allocation and reply routing."""

    def __init__(self) -> None:
        self._next = 1
        self.pending: dict[int, Mailbox] = {}
        self.closed_reason: BaseException | None = None

    def peek(self) -> int:
        """The cid the next :meth:`open` takes."""
        return self._next

    def open(self, box: Mailbox | None = None) -> tuple[int, Mailbox]:
        cid, self._next = self._next, self._next + 1
        box = self.pending[cid] = box if box is not None else Mailbox()
        return cid, box

    def deliver(self, msg: Any) -> bool:
        box = self.pending.get(msg.cid)
        if box is None:
            return False
        box.put(msg)
        return True

    def discard(self, cid: int) -> None:
        box = self.pending.pop(cid, None)
        if box is not None:  # (box.close(), inlined: every call ends here)
            box.closed = True
            if box._waiter is not None:
                box._wake()

    def close_all(self, reason: BaseException) -> None:
        """The channel is gone: wake every waiting caller with ``reason``."""
        self.closed_reason = reason
        for box in self.pending.values():
            box.close()
        self.pending.clear()


class SendLock:
    """A channel's send lock: taken with no scheduler pass when free (the common case),
    handed to the longest waiter on release (first come, first served, as
    ``trio.Lock``). ``trio.Lock`` costs ~4 us a send free as it is (it tracks its
    owner task and breaks waiters when that task exits): as much as the write itself
    on the round-trip path. The sender releases in a ``finally``, so no owner to track."""

    __slots__ = ("_lot", "held", "waiters")

    def __init__(self) -> None:
        self.held = False
        self.waiters = 0  # parked in acquire(), or handed the lock and not yet back
        self._lot = trio.lowlevel.ParkingLot()

    def locked(self) -> bool:
        return self.held

    def acquire_nowait(self) -> bool:
        """Take the lock if it is free; False if another sender holds it."""
        if self.held:
            return False
        self.held = True
        return True

    async def acquire(self) -> None:
        """Take the lock, waiting (cancellably) for the senders before us."""
        if not self.held:
            self.held = True
            return
        self.waiters += 1
        try:
            await self._lot.park()  # release() handed it to us: it stays held
        finally:
            self.waiters -= 1

    def release(self) -> None:
        # the longest waiter holds it now; none (or only cancelled ones): free. The
        # count spares the free case the lot's (Python) __bool__ on every send
        if not (self.waiters and self._lot.unpark()):
            self.held = False


class Channel:
    """One connection to a peer actor: framed send/receive of typed messages.

    Sends are serialized by a lock so concurrent tasks never interleave frames.
    """

    def __init__(self, stream: trio.abc.Stream, *, peer_desc: str = "?"):
        self.stream = stream
        self.peer_desc = peer_desc
        self.peer_uid: ActorID | None = None
        self.peer_pid: int | None = None
        self._send_lock = SendLock()
        # when the frame being sent last put bytes on the socket (trio clock): a
        # shielded sender waiting for the lock waits while this moves
        self._sent_at = 0.0
        # trio.SocketStream (TCP or UDS): read and write its socket directly on the
        # hot paths; its fileno() turns -1 once closed, so a reused fd is never touched
        self._sock: Any = getattr(stream, "socket", None)
        # what the hot paths ask for the fd: the socket trio wraps when it has one
        # (trio's fileno() is a Python call that asks it; -1 once closed, as trio's)
        self._fd_of: Any = getattr(self._sock, "_sock", self._sock)
        self._reads_in_a_row = 0
        self._sends_in_a_row = 0
        # the next read waits for the socket first (see wait_first)
        self._wait_first = False
        # received bytes not yet decoded are _rbuf[_rpos:_rend]
        self._rbuf = bytearray(RECV_BUFFER)
        self._rview = memoryview(self._rbuf)
        self._rpos = self._rend = 0
        # a large frame: its own buffer (kept while large frames keep coming), and
        # how much of the one being read has arrived (a cancelled read resumes)
        self._big: mmap.mmap | None = None
        self._partial: tuple[memoryview, int, bytes | None] | None = None
        # a raw frame's body read into a bytes object of its own (see _fresh_bytes;
        # third in _partial while it is read): the value its message will carry
        self._raw_body: bytes | None = None
        self._raw_head: bytes | None = None  # the header of the raw frame being read
        # the largest frame this channel accepts: raised to MAX_FRAME once authenticated
        self.max_frame = MAX_FRAME
        self.closed = False
        self.calls = CallTable()
        # set when a spawned child reports it booted (or failed to: boot_error)
        self.ready = trio.Event()
        self.boot_error: ErrorInfo | None = None
        # the peer's tree (its root's id, from its Hello): another tree's actor
        # found through the registry has a root of its own
        self.peer_root: ActorID | None = None
        self.peer_trace: dict[str, str] = {}  # its telemetry carrier (traceparent)
        # set once the reader serving this channel ended (the peer went away)
        self.gone = trio.Event()
        # the tail of a frame send_nowait() could write only part of: goes out first
        self._unsent: bytes | None = None
        # the read baton (see read_until): the task that reads this channel's socket
        # instead of its reader (a caller waiting for its reply), the reader parked
        # meanwhile, whether it may be taken (the reader is parked at its idle point,
        # or woken from there and not yet run), and what the baton's holder read that
        # is the reader's to dispatch (a message, None for EOF, or the error to raise)
        self._baton: trio.lowlevel.Task | None = None
        self._standby: trio.lowlevel.Task | None = None
        self._reader_idle = False
        self._stash: deque[Any] = deque()
        # the reader's task; whether it waits on the socket at its idle point (nothing
        # buffered), where a worker done with its call may take the baton from it
        # (see evict_reader); set while that is under way
        self._reader_task: trio.lowlevel.Task | None = None
        self._reader_armed = False
        self._evicting = False
        # closing leaves the socket open until the process ends (close_held): a
        # child's channel to its parent
        self.held_to_exit = False
        # the reply poller of this channel's trio run (replywait.poller(): a RunVar's
        # lookup per call otherwise), once a caller asked for it
        self.reply_poll: Any = False
        # the rest of a frame whose sender was cancelled, being written by a task
        # that holds the send lock meanwhile (see _send_rest_or_leave)
        self._rest_writer: _Rest | None = None
        # a child's last word on its channel (msgs.Exiting): the exit code its
        # process ends with, then called once the reader ended (the peer went away)
        self.exit_announced: int | None = None
        self.on_gone: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Channel {self.peer}>"

    def fileno(self) -> int:
        """The socket's file descriptor, -1 once closed (or not a socket)."""
        return int(self._sock.fileno()) if self._sock is not None else -1

    def connected(self) -> bool:
        """The peer project's name: the channel is still open."""
        return not self.closed

    @property
    def aid(self) -> ActorID | None:
        """The peer's id (``.name``, ``.uuid``, ``.uid``), once it said hello."""
        return self.peer_uid

    @property
    def uid(self) -> tuple[str, str] | None:
        """The peer project's ``(name, uuid)`` of the peer, once it said hello."""
        return None if self.peer_uid is None else self.peer_uid.uid

    @property
    def laddr(self) -> Address | None:
        """This end's address (``proto_key``, ``unwrap()``), ``None`` once closed."""
        return addr.of_socket(self._sock, remote=False)

    @property
    def raddr(self) -> Address | None:
        """The peer's end: a ``TCPAddress``, or a ``UDSAddress`` (``sockpath`` empty for
        a child's socketpair, ``maybe_pid`` from the kernel); ``None`` once closed."""
        return addr.of_socket(self._sock, remote=True, pid=self.peer_pid)

    @property
    def peer(self) -> str:
        """Who is on the other side, for error messages."""
        if self.peer_uid is not None:
            pid = f" (pid {self.peer_pid})" if self.peer_pid is not None else ""
            return f"{self.peer_uid}{pid} at {self.peer_desc}"
        return self.peer_desc

    async def send(self, msg: Any) -> None:
        await self.send_raw(encode(msg))

    async def send_raw(
        self,
        frame: Frame | RawFrame,
        *,
        checkpoint: bool = True,
        shield: bool = False,
        cut_cancels: int = 0,
    ) -> None:
        """Send one encoded frame. A frame that goes out at once costs no scheduler
        pass (a whole extra trip through trio's run loop per message): with
        ``checkpoint`` (a stream's items) the sender still passes through the
        scheduler once every :data:`YIELD_EVERY` sends; ``checkpoint=False`` never,
        for hot paths that wait for something right after (a call waits for its
        reply, a reader goes back to reading). ``shield``:
        send even if the calling task is being cancelled (a reply must not be lost to
        its reader's teardown); cheaper than a shielded cancel scope around the call,
        which costs more than the whole send when the frame goes out at once. A
        shielded send waits for another sender to finish as long as that sender's
        frame goes out (a reply behind a big frame to a busy peer is never dropped:
        its caller would wait for it for ever), and gives up with
        :class:`ChannelClosed` only when it stalled for the send stall bound, as the
        sender itself then does (see :meth:`_wait_for_sender`).

        A sender (not ``shield``) cancelled once part of its frame is out leaves at
        once: the frame's rest is not dropped (the stream would be garbage for the
        peer) but written by a task of the actor's service nursery (see
        :func:`set_rest_writers`), with the CancelCall of call ``cut_cancels`` behind it
        (when the frame is that call's Start: encoded only then, not for every call;
        the callee gets a call its caller gave up), under the same stall bound."""
        if self.closed:
            raise ChannelClosed(f"channel to {self.peer} is closed")
        # take the lock without a scheduler pass when it is free (the common case):
        # this is on the round-trip hot path (SendLock.acquire_nowait, inlined)
        lock = self._send_lock
        if not lock.held:
            lock.held = True
        else:
            if shield:
                await self._wait_for_sender()
            else:
                await lock.acquire()
        try:
            if not shield:
                await trio.lowlevel.checkpoint_if_cancelled()
            bufs = [frame] if type(frame) is bytearray else _buffers(frame)
            size = len(frame)
            if self._unsent is not None:  # the rest of a frame send_nowait() began
                bufs.insert(0, self._unsent)
                size += len(self._unsent)
                self._unsent = None
            sent = self._write_now(bufs)
            if sent == size:
                if checkpoint:
                    self._sends_in_a_row += 1
                    if self._sends_in_a_row >= YIELD_EVERY:
                        self._sends_in_a_row = 0
                        await trio.lowlevel.cancel_shielded_checkpoint()
                return
            self._sends_in_a_row = 0
            # once bytes go out the frame must be completed, or the stream is garbage
            # for the peer: no cancellation mid-frame, but a bound on a peer that
            # stopped reading, after which the channel is given up
            rest = _Rest(_rest(bufs, sent))
            if shield or self._fd_of is None:
                done = await self._send_rest(rest)
            else:
                try:
                    done = await self._send_rest_or_leave(rest, cut_cancels, frame)
                except trio.Cancelled:
                    if self._rest_writer is rest:  # its writer has the lock now
                        lock = _HANDED_OVER
                    raise
            if done:
                return
            self.closed = True
            await self.stream.aclose()
            raise ChannelClosed(f"peer {self.peer} stopped reading for {send_stall_timeout():g}s")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.closed = True
            raise ChannelClosed(f"channel to {self.peer} broke: {exc}") from exc
        finally:
            if lock.waiters:
                lock.release()
            else:  # (release(), inlined for the usual case: nobody waits)
                lock.held = False

    async def _wait_for_sender(self) -> None:
        """Take the send lock, shielded, waiting while its holder's frame makes
        progress. ChannelClosed once the holder wrote nothing for the send stall bound
        (it gives the channel up then too) and no REPL excuses it; or when the channel
        closed meanwhile."""
        lock = self._send_lock
        bound = send_stall_timeout()
        since = trio.current_time()
        while True:
            deadline = max(self._sent_at, since) + bound
            with trio.CancelScope(shield=True, deadline=deadline) as waited:
                await lock.acquire()
            if not waited.cancelled_caught:
                return
            if self.closed:
                raise ChannelClosed(f"channel to {self.peer} is closed")
            now = trio.current_time()
            if self._sent_at + bound > now:  # the holder's frame moved: wait on
                continue
            if not stall_excused():
                msg = f"channel to {self.peer}: its sender wrote nothing for {bound:g}s"
                raise ChannelClosed(msg)
            since = now

    async def _send_rest(self, rest: _Rest) -> bool:
        """Write the rest of a frame (shielded); False when the peer read none of it for
        the send stall bound (``DEVX_SEND_STALL_TIMEOUT``), unless a stall is excused
        (:func:`stall_excused`: a REPL of the tree is live, and its actor's loop,
        reading nothing meanwhile, may be this peer's). The bound counts from the last
        byte that went out, so a big frame to a slow but live reader is never cut."""
        bound = send_stall_timeout()
        if self._fd_of is None:  # not a socket trio wraps: its own send_all, one bound
            with trio.CancelScope(shield=True, deadline=trio.current_time() + bound):
                for part in rest.bufs:
                    await self.stream.send_all(part)
                return True
            return False
        with trio.CancelScope(shield=True):
            done = await self._write_rest(rest, bound)
        return done

    async def _write_rest(self, rest: _Rest, bound: float) -> bool:
        """The loop of :meth:`_send_rest`, in the caller's cancel scope."""
        sock = self._fd_of
        while rest.bufs:
            fd = sock.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the channel's socket was closed")
            with trio.move_on_at(rest.last + bound) as stalled:
                await trio.lowlevel.wait_writable(fd)
            if stalled.cancelled_caught:
                if not stall_excused():
                    return False
                log.info(
                    "%s read nothing for %gs while a REPL of the tree is live: "
                    "waiting on (a REPL is the user's time)",
                    self.peer,
                    bound,
                )
                rest.last = trio.current_time()
                continue
            sent = self._write_now(rest.bufs)
            if sent:
                rest.last = self._sent_at = trio.current_time()
                rest.bufs = _rest(rest.bufs, sent)
        return True

    async def _send_rest_or_leave(
        self, rest: _Rest, cut_cancels: int, frame: Frame | RawFrame
    ) -> bool:
        """:meth:`_send_rest` for a sender that may be cancelled: cancelled, it hands
        the rest (and the CancelCall of call ``cut_cancels``, if any, behind it) to a
        task of :data:`_REST_WRITERS`, which
        holds the send lock from then on, and leaves; with nowhere to hand it, it
        writes it itself, shielded. A raw ``frame``'s body is the sender's own buffer
        (see :func:`pack`): what is left of it is handed over as a copy, since the
        sender, once it left, may rewrite or resize its buffer."""
        try:
            return await self._write_rest(rest, send_stall_timeout())
        except trio.Cancelled:
            writers = _REST_WRITERS
            if writers is not None:
                if type(frame) is RawFrame and not isinstance(frame.body.obj, bytes):
                    rest.bufs = _copy_views_of(frame.body.obj, rest.bufs)
                    # (the frame is done with: its view goes too, not left to the
                    # Cancelled's traceback, which holds this frame)
                    frame.body.release()
                if cut_cancels:
                    rest.bufs.append(encode(CancelCall(cid=cut_cancels)))
                try:
                    writers.start_soon(self._finish_rest, rest)
                except RuntimeError:  # closed to new tasks: its actor's teardown is over
                    if cut_cancels:
                        rest.bufs.pop()
                else:
                    rest.of = frame
                    self._rest_writer = rest
                    log.debug(
                        "a sender to %s was cancelled with %d bytes of its frame unsent: "
                        "a service task writes them",
                        self.peer,
                        sum(map(len, rest.bufs)),
                    )
                    raise
        return await self._send_rest(rest)

    async def _finish_rest(self, rest: _Rest) -> None:
        """Write the rest a cancelled sender left (:meth:`_send_rest_or_leave`), then
        free the send lock; a peer that read none of it for the stall bound is given
        up as the sender would have (the channel closed, said in the log)."""
        try:
            if await self._send_rest(rest):
                return
            log.warning(
                "channel to %s given up: it read nothing for %gs of a frame whose sender "
                "was cancelled (its loop blocked?); what is sent to it or waited from it "
                "over this channel fails with ChannelClosed",
                self.peer,
                send_stall_timeout(),
            )
            await self.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self.closed = True  # gone: its reader says so to those waiting on it
        finally:
            self._rest_writer = None
            self._send_lock.release()

    def send_nowait(self, frame: Frame | RawFrame) -> bool:
        """Send one encoded frame from synchronous code on the loop's thread, without
        waiting (a REPL's ``c`` frees the terminal at once, not at its task's next
        checkpoint). False, and nothing sent, when the channel is closed, broken or
        another task is sending: use :meth:`send_raw`. A frame the socket took only
        part of is sent: its rest goes out ahead of the next frame, and
        :meth:`flush` waits for it."""
        if self.closed or self._send_lock.held or self._unsent is not None:
            return False
        bufs = [frame] if type(frame) is bytearray else _buffers(frame)
        try:
            sent = self._write_now(bufs)
        except OSError:
            return False  # broken: send_raw says so
        if not sent:
            return False
        if sent < len(frame):
            self._unsent = b"".join(_rest(bufs, sent))
        return True

    def handed_off(self, frame: Frame | RawFrame) -> bool:
        """Whether ``frame``'s sender, just cancelled in :meth:`send_raw`, left its
        rest to a writer (:meth:`_send_rest_or_leave`): the frame goes out whole.
        False: the cancel came before any of it went out (at the cancellation point,
        or waiting for another sender), and nothing of it will."""
        writer = self._rest_writer
        return writer is not None and writer.of is frame

    @property
    def sending_rest(self) -> bool:
        """A frame :meth:`send_nowait` began is not all out: :meth:`flush` sends the rest
        (so does the next send)."""
        return self._unsent is not None

    async def flush(self) -> None:
        """Until the rest of a frame :meth:`send_nowait` began went out (at once when
        there is none); even in a cancelled task."""
        if self._unsent is not None:
            await self.send_raw(bytearray(), checkpoint=False, shield=True)

    def _write_now(self, bufs: list[Any]) -> int:
        """Write what the socket takes without blocking (trio keeps it non-blocking);
        the caller holds the send lock, so nothing else writes to it meanwhile.
        Several buffers (a raw frame's head and body, held frames) go in one
        ``writev``."""
        fd = self._fd_of.fileno() if self._fd_of is not None else -1
        if fd < 0:
            return 0
        try:
            return os.write(fd, bufs[0]) if len(bufs) == 1 else os.writev(fd, bufs)
        except BlockingIOError:
            return 0

    def wait_first(self) -> None:
        """The reader has handled a frame after which the peer sends nothing until
        this side answers (a call it serves inline, a reply its caller waited for):
        when nothing more is buffered, its next read waits for the socket at once,
        without first reading it empty (a syscall and an exception per message)."""
        if self._rpos == self._rend:
            self._wait_first = True

    async def _fill(self, n: int) -> bool:
        """Read until ``n`` undecoded bytes are buffered (``n`` fits the buffer);
        False on a clean EOF at a frame edge."""
        while self._rend - self._rpos < n:
            if self._rpos + n > RECV_BUFFER:  # no room behind them: move them first
                have = self._rend - self._rpos
                self._rview[:have] = self._rview[self._rpos : self._rend]  # memmove
                self._rpos, self._rend = 0, have
            got = await self._receive_into(self._rview[self._rend :])
            if not got:
                if self._rend > self._rpos:
                    raise MsgTypeError(
                        f"peer {self.peer} closed the connection in the middle of a frame"
                    )
                return False
            self._rend += got
        return True

    async def _receive_into(self, view: memoryview) -> int:
        """Read what the socket has into ``view`` (0 at EOF), waiting for it if need
        be. Straight ``os.readv`` plus ``wait_readable`` rather than
        ``SocketStream.receive_some``, whose per-call machinery (and scheduler pass
        when data is already there) dominates a small message's cost, and which
        returns a new bytes object each time; a reader with data always ready
        still yields every few reads so that a flooding peer cannot starve the
        actor's other tasks."""
        try:
            sock = self._fd_of
            if sock is None:
                data = await self.stream.receive_some(len(view))
                view[: len(data)] = data
                return len(data)
            wait = self._wait_first  # nothing can be there yet: no read to learn that
            if wait:
                self._wait_first = False
                self._reads_in_a_row = 0
            while True:
                if wait:  # (level-triggered: bytes there return)
                    fd = sock.fileno()
                    if fd < 0:
                        raise trio.ClosedResourceError("the channel's socket was closed")
                    # (the wait here, not in a coroutine of its own: a frame less to
                    # resume at every wake-up of a reader or a caller reading its reply)
                    try:
                        await trio.lowlevel.wait_readable(fd)
                    except trio.ClosedResourceError:
                        self._evicted()
                        raise
                await trio.lowlevel.checkpoint_if_cancelled()  # before taking any bytes
                fd = sock.fileno()
                if fd < 0:
                    raise trio.ClosedResourceError("the channel's socket was closed")
                try:
                    got = os.readv(fd, (view,))
                except BlockingIOError:
                    self._reads_in_a_row = 0
                    wait = True
                    continue
                # bytes in hand, not yet in the buffer's bounds: no longer at its idle
                # point (the yield below must not look like a wait on the socket)
                self._reader_armed = False
                self._reads_in_a_row += 1
                if self._reads_in_a_row >= YIELD_EVERY:
                    self._reads_in_a_row = 0
                    await trio.lowlevel.cancel_shielded_checkpoint()  # keeps the bytes
                return got
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise ChannelClosed(f"channel to {self.peer} broke: {exc}") from exc

    async def _receive_large(self, size: int, skip: int = 4) -> memoryview:
        """The body of a frame too large for the shared buffer, read straight into
        a buffer of its own: an anonymous mapping (no zero-filling: pages come as
        the kernel writes them), kept for the next large frame so a stream of them
        does not fault in fresh memory each time, dropped at the next small one.
        The body starts ``skip`` bytes into what is buffered (behind the length
        prefix, or right there for a raw frame, whose header was taken). A raw
        frame's body (``skip`` 0) is read into the ``bytes`` object its message
        will carry, when :func:`_fresh_bytes` can make one (``_raw_body``): no copy
        of it after the kernel's."""
        if self._partial is None:
            fresh = _fresh_bytes(size) if not skip else None
            obj: bytes | None = None
            if fresh is not None:
                obj, view = fresh
            else:
                if self._big is None or len(self._big) < size:
                    self._big = None
                    import mmap

                    self._big = mmap.mmap(-1, size)
                view = memoryview(self._big)[:size]
            start = self._rpos + skip
            have = min(self._rend - start, size)  # what came with the prefix
            view[:have] = self._rview[start : start + have]
            self._rpos = start + have
            if self._rpos == self._rend:
                self._rpos = self._rend = 0
            self._partial = (view, have, obj)
        # the object the view writes into (the view holds no reference to it) stays
        # with the view: in _partial across a cancelled read, and here while it is
        # read into, whatever drops _partial meanwhile (an aclose from another task
        # while this read yields: the body is then still whole, not freed memory)
        view, have, obj = self._partial
        while have < size:
            got = await self._receive_into(view[have:])
            if not got:
                self._partial = None
                raise MsgTypeError(
                    f"peer {self.peer} closed the connection in the middle of a frame"
                )
            have += got
            self._partial = (view, have, obj)
        self._partial = None
        self._raw_body = obj
        return view

    async def _raw_header(self, word: int) -> int:
        """Take a raw frame's length words and header (kept in ``_raw_head``) out of
        the buffer; the body's length."""
        size = word & ~RAW_FLAG
        if self.max_frame < MAX_FRAME:
            raise MsgTypeError(
                f"peer {self.peer} sent a raw frame before authenticating: "
                "not a devx peer or a corrupted stream"
            )
        if size > MAX_RAW_HEADER:
            raise MsgTypeError(
                f"peer {self.peer} sent a raw frame whose header is {size} bytes "
                f"(max {MAX_RAW_HEADER}): not a devx peer or a corrupted stream"
            )
        if self._rend - self._rpos < 8 + size and not await self._fill(8 + size):
            raise MsgTypeError(f"peer {self.peer} closed the connection in the middle of a frame")
        _, body = _RAW_LENS.unpack_from(self._rbuf, self._rpos)
        if body == 0 or size + body > self.max_frame:
            raise MsgTypeError(
                f"peer {self.peer} sent a raw frame with a body of {body} bytes "
                f"(1 to {self.max_frame - size} possible): not a devx peer or a corrupted stream"
            )
        start = self._rpos + 8
        self._raw_head = bytes(self._rview[start : start + size])
        self._rpos = start + size
        return int(body)

    # --- the read baton ------------------------------------------------------------
    #
    # A reply read by the channel's reader reaches its caller through a mailbox and a
    # second step of the trio loop: the reader reads, delivers and waits on the socket
    # again, then the caller runs in the loop's next pass. Both are on the round trip's
    # critical path, between the reply's arrival and the caller's next request. So a
    # caller waiting for its reply (Portal._reply) may read the socket itself: it takes
    # the baton while the reader is parked at its idle point (nothing buffered, nothing
    # to dispatch), delivers every reply it reads (its own ends its wait) and gives
    # the baton back, waking the reader, when its wait ends however it ends. Anything
    # but a reply (a call from the peer, a cancel, a stream's message), an EOF or a
    # broken frame goes to the reader, in order, with the baton: it is dispatched as
    # the reader would have, the caller waits in its mailbox. The reader parks only
    # while a caller holds the baton; it lends the baton to the caller whose reply it
    # delivers when nothing more is buffered, so a caller that calls again in a loop
    # keeps reading its replies itself (one step of the reader a call, off the critical
    # path, to park again), and one that does not wakes the reader at once.

    async def serve_recv(self) -> Any:
        """:meth:`recv` for the channel's reader (its only caller): first what a
        baton holder left to dispatch; parked while another task holds the baton."""
        while True:
            while self._baton is not None and not self._stash:
                self._reader_idle = True
                self._standby = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._standby_abort)
            self._reader_idle = False
            self._evicting = False  # (an eviction whose wait it never was in)
            if self._stash:
                item = self._stash.popleft()
                if isinstance(item, BaseException):
                    raise item
                return item
            self._reader_task = trio.lowlevel.current_task()
            # (no other task runs until it waits on the socket: set before, true then)
            self._reader_armed = self._rpos == self._rend and self._partial is None
            try:
                return await self.recv()
            except _Evicted:  # a worker took the baton: parked until it gives it back
                continue
            finally:
                self._reader_armed = False

    def _standby_abort(self, _: Any) -> trio.lowlevel.Abort:
        self._standby = None
        self._reader_idle = False
        return trio.lowlevel.Abort.SUCCEEDED

    def take_baton(self) -> bool:
        """Become the task that reads this channel (see :meth:`read_until`), when the
        reader is parked at its idle point; False otherwise (wait in the mailbox)."""
        if self._baton is not None or not self._reader_idle or self._stash or self.closed:
            return False
        self._baton = trio.lowlevel.current_task()
        return True

    def holds_baton(self) -> bool:
        return self._baton is not None and self._baton is trio.lowlevel.current_task()

    def release_baton(self) -> None:
        """The baton goes back to the reader (woken if parked)."""
        self._baton = None
        task, self._standby = self._standby, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def evict_reader(self) -> bool:
        """Take the baton from the reader while it waits on the socket at its idle
        point (nothing buffered, nothing arrived, nothing being written): a worker
        done with a call, waiting for the next one itself (Actor.listen_for_call),
        runs it without a scheduler pass between its read and its first step. The
        reader's wait is ended with trio's ``notify_closing`` (the socket stays open:
        trio forgets its registration, the next wait registers it again); the reader
        parks until the baton comes back. False, nothing done, otherwise."""
        if (
            not self._reader_armed
            or self._baton is not None
            or self._stash
            or self.closed
            or self._evicting
            or self._send_lock.held  # (notify_closing would end a writer's wait too)
            or self._unsent is not None
            or self._rpos != self._rend
            or self._partial is not None
        ):
            return False
        sock = self._fd_of
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return False
        try:  # bytes (or an EOF) there: the reader has been woken already, or will be
            sock.recv(1, _PEEK)  # (the socket is non-blocking: trio's)
            return False
        except BlockingIOError:
            pass
        except OSError:
            return False
        self._evicting = True
        self._baton = trio.lowlevel.current_task()
        trio.lowlevel.notify_closing(fd)
        return True

    def _evicted(self) -> None:
        """A wait on the socket ended by ``ClosedResourceError``: the reader's wait
        ended by :meth:`evict_reader` raises :class:`_Evicted` (anyone else's, or a
        real close, goes on as ``ClosedResourceError``)."""
        if self._evicting and trio.lowlevel.current_task() is self._reader_task:
            self._evicting = False
            raise _Evicted from None

    def deliver_reply(self, msg: Any) -> None:
        """The reader delivers a reply (a ``Return``, an ``Error`` of a call, a
        context's ``Started``): to a caller that waits for it where it can read
        the socket itself (a ``portal.run``, a context's caller waiting for its
        callee), with nothing more buffered, the baton is lent with it (given back
        when its wait ends)."""
        box = self.calls.pending.get(msg.cid)
        if box is None:
            return
        if (
            self._baton is None
            and self._rpos == self._rend
            and self._partial is None
            and not self._stash
            and not self.closed
        ):
            self._baton = box.lendee()
        box.put(msg)

    async def read_until(self, ready: Callable[[], bool]) -> None:
        """Holding the baton: read the socket until ``ready()``, delivering what
        comes for this side's calls (replies, a context's or a stream's frames to
        its caller) as the reader would; anything else (a call or a cancel from the
        peer, a frame for a context this actor serves), an EOF or an error ends it,
        left with the baton to the reader. The baton goes back however this ends (a
        cancel too: a frame read in part stays buffered, the reader resumes it)."""
        try:
            while not ready():
                try:
                    msg = await self.recv()
                except (MsgTypeError, ChannelClosed) as exc:
                    self._stash.append(exc)
                    return
                kind = type(msg)
                if kind is Return or (kind is Error and msg.cid != 0):
                    self.calls.deliver(msg)
                    self.wait_first()  # (as the reader after a reply)
                elif kind in _TO_CALLER or (kind in _STREAM_MSGS and not msg.to_callee):
                    self.calls.deliver(msg)
                else:  # a call, a cancel, a callee's frame, None (EOF): the reader's
                    self._stash.append(msg)
                    return
        finally:
            self.release_baton()

    async def read_reply(self, cid: int, box: Mailbox) -> Any:
        """:meth:`read_until` for a ``portal.run`` waiting for the reply to call
        ``cid``: that reply ends the read and is returned (not put in ``box`` to be
        taken out again: two steps less between its arrival and the caller's next
        call); None when the read ended otherwise (``box`` closed or given a frame,
        as ``read_until(lambda: bool(box._items) or box.closed)`` would end, or
        something for the reader came: the answer is in ``box`` then, or comes
        through it). As there, every return follows a cancellation check in the
        same task step (the one before the socket is read)."""
        try:
            while not (box.closed or box._items):
                try:
                    msg = await self.recv()
                except (MsgTypeError, ChannelClosed) as exc:
                    self._stash.append(exc)
                    return None
                kind = type(msg)
                if kind is Return or (kind is Error and msg.cid != 0):
                    if self._rpos == self._rend:  # (wait_first(), inlined)
                        self._wait_first = True
                    if msg.cid == cid:
                        return msg
                    self.calls.deliver(msg)
                elif kind in _TO_CALLER or (kind in _STREAM_MSGS and not msg.to_callee):
                    self.calls.deliver(msg)
                else:  # a call, a cancel, a callee's frame, None (EOF): the reader's
                    self._stash.append(msg)
                    return None
            return None
        finally:
            self.release_baton()

    async def recv(self) -> Any:
        """The next message, or ``None`` at EOF. Raises :class:`MsgTypeError` on a bad
        frame and :class:`ChannelClosed` on a broken connection."""
        head: bytes | None = None
        if self._partial is not None:  # a cancelled read of a large frame: resume it
            head = self._raw_head
            body = await self._receive_large(len(self._partial[0]))
        else:
            if self._rpos == self._rend:  # nothing buffered (the usual case): read now
                got = await self._receive_into(self._rview)
                if not got:
                    return None
                self._rpos, self._rend = 0, got
            if self._rend - self._rpos < 4 and not await self._fill(4):
                return None
            (size,) = _LEN.unpack_from(self._rbuf, self._rpos)
            if size & RAW_FLAG and size & ~RAW_FLAG <= MAX_FRAME:
                self._raw_head = None
                size = await self._raw_header(size)
                head = self._raw_head
                body = await self._receive_large(size, skip=0)
            elif size > self.max_frame:
                raise MsgTypeError(
                    f"peer {self.peer} sent a frame of {size} bytes (max {self.max_frame}"
                    f"{' before authenticating' if self.max_frame < MAX_FRAME else ''}): "
                    "not a devx peer or a corrupted stream"
                )
            elif size + 4 > RECV_BUFFER:
                self._raw_head = None
                body = await self._receive_large(size)
            else:
                if self._rend - self._rpos < size + 4 and not await self._fill(size + 4):
                    raise MsgTypeError(
                        f"peer {self.peer} closed the connection in the middle of a frame"
                    )
                start = self._rpos + 4
                body = self._rview[start : start + size]
                if start + size == self._rend:
                    self._rpos = self._rend = 0
                else:
                    self._rpos = start + size
                self._big = None
        if head is not None:
            return self._decode_raw(head, body)
        try:
            return _decoder.decode(body)
        except msgspec.DecodeError as exc:
            why = str(exc)
        # raised outside the except block: the decode error (its traceback holds this
        # frame, and this frame the large frame's buffer) is not kept as a context
        raise MsgTypeError(f"undecodable frame from peer {self.peer}: {why}")

    def _decode_raw(self, head: bytes, body: memoryview) -> Any:
        """A raw frame's message: its header decoded, the placeholder in it replaced
        by the body as ``bytes``: the object it was read into, or a copy of the
        large-frame buffer (as the decoder makes of a payload) without one."""
        self._raw_head = None
        value, self._raw_body = self._raw_body, None
        _raw.value, _raw.taken = (bytes(body) if value is None else value), False
        why = ""
        try:
            msg = _decoder.decode(head)
            if not _raw.taken:
                why = "its header has no place for its body"
        except (msgspec.DecodeError, ValueError) as exc:
            why = str(exc)
        finally:
            _raw.value = None
        if why:
            raise MsgTypeError(f"undecodable raw frame from peer {self.peer}: {why}")
        return msg

    async def aclose(self) -> None:
        if not self.closed and (session := sys.modules.get("devx.debug.session")):
            session.release_left_on(self)  # a REPL left with `c` frees the terminal first
        self.closed = True
        # a large frame's buffer goes with the channel
        self._big = self._partial = self._raw_body = None
        if self.held_to_exit and self._sock is not None and self._sock.fileno() >= 0:
            trio.lowlevel.notify_closing(self._sock)  # trio forgets it; still open
            _HELD.append(self._sock.detach())
        with trio.CancelScope(shield=True):
            try:
                await self.stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


_HELD: list[int] = []  # sockets of closed channels the process ends with


def hold_for_exit(chan: Channel) -> None:
    """Let :func:`close_held` close ``chan``'s socket, after its last frame, though
    the channel is not closed: the process ends right after (a child that exits
    before its services unwind)."""
    fd = chan.fileno()
    if fd >= 0:
        _HELD.append(fd)


def close_held(last: bytes | bytearray = b"") -> None:
    """Close the sockets of channels closed with ``held_to_exit``, each after ``last``
    (a frame: a child's :class:`~devx.runtime.msgs.Exiting`), when its socket takes it
    at once. A child closes its channel to its parent here, once its trio run and its
    atexit handlers are over, right before its exit: closed in its actor's teardown,
    the end of the channel woke the parent, whose reaction took the CPU from the
    child's own teardown on a busy machine (0.3-0.5 ms a child here)."""
    while _HELD:
        fd = _HELD.pop()
        try:
            if last:
                os.write(fd, last)  # (non-blocking: a full socket gets no last word)
        except OSError:
            pass
        try:
            os.close(fd)
        except OSError:
            pass


_STALL_EXCUSES: list[Callable[[], bool]] = []
# what a sender whose frame's rest went to a writer (see _send_rest_or_leave) frees in
# place of the channel's send lock, which that writer frees once the rest is out
_HANDED_OVER = SendLock()
# where a sender cancelled halfway through a frame leaves its rest to be written: the
# running actor's service nursery (set_rest_writers); None: the sender writes it itself
_REST_WRITERS: trio.Nursery | None = None


def set_rest_writers(nursery: trio.Nursery | None) -> None:
    """Where the rest of a frame whose sender was cancelled midway is written from
    (the actor's service nursery, while it runs): its sender leaves at once, as a
    cancelled trio task is expected to, instead of waiting (shielded) until a peer
    whose loop is blocked reads it, up to the send stall bound."""
    global _REST_WRITERS
    _REST_WRITERS = nursery


class _Rest:
    """What is left to write of a frame, and when its last byte went out."""

    __slots__ = ("bufs", "last", "of")

    def __init__(self, bufs: list[Any]) -> None:
        self.bufs = bufs
        self.last = trio.current_time()
        self.of: object = None  # the frame, once its cancelled sender handed it over


def excuse_stalls(excused: Callable[[], bool]) -> Callable[[], None]:
    """Register ``excused()``: True while a peer that reads nothing is not to be
    given up (the debug layer: while a REPL of the tree is live, the actor it runs in
    reads nothing, and "A REPL is a user's time"). Returns the unregistering call."""
    _STALL_EXCUSES.append(excused)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _STALL_EXCUSES.remove(excused)

    return remove


def send_stall_timeout() -> float:
    """How long a peer may read nothing of a frame before it is given up."""
    from ..core import settings

    return settings.current().send_stall_timeout


def stall_excused() -> bool:
    """Whether a send stalled for the stall bound (or a wait for the send lock) goes
    on waiting rather than giving the peer up."""
    for excused in list(_STALL_EXCUSES):
        with contextlib.suppress(Exception):
            if excused():
                return True
    return False


def _buffers(frame: Frame | RawFrame) -> list[Any]:
    if isinstance(frame, RawFrame):
        return [frame.head, frame.body]
    return [frame]


def _copy_views_of(owner: object, bufs: list[Any]) -> list[Any]:
    """``bufs`` with each view of ``owner``'s buffer replaced by a copy (the view
    released: the owner may be resized again)."""
    copied: list[Any] = []
    for buf in bufs:
        if isinstance(buf, memoryview) and buf.obj is owner:
            own = bytes(buf)
            buf.release()
            buf = own
        copied.append(buf)
    return copied


def _rest(bufs: list[Any], sent: int) -> list[Any]:
    """What is left to write of ``bufs`` once ``sent`` bytes went out."""
    for i, buf in enumerate(bufs):
        if sent < len(buf):
            return [memoryview(buf)[sent:] if sent else buf, *bufs[i + 1 :]]
        sent -= len(buf)
    return []


async def connect(addr: Addr) -> Channel:
    """Open a channel to ``addr``."""
    if isinstance(addr, str):
        stream: trio.abc.Stream = await trio.open_unix_socket(addr)
        desc = addr
    else:
        host, port = addr
        stream = await trio.open_tcp_stream(host, port)
        desc = f"{host}:{port}"
    return Channel(stream, peer_desc=desc)


_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def _peercred(sock: Any) -> tuple[int, int, int] | None:
    """``(pid, uid, gid)`` of a Unix socket's peer process (``SO_PEERCRED``)."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None or sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        pid, uid, gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, peercred, _PEERCRED.size)
        )
    except (OSError, struct.error):
        return None
    return pid, uid, gid


def peer_uid(stream: trio.abc.Stream) -> int | None:
    """The uid of the process on the other end of an accepted Unix socket (from the
    kernel), ``None`` over TCP or where the kernel does not say."""
    cred = _peercred(getattr(stream, "socket", None))
    return cred[1] if cred is not None else None


def peer_desc(stream: trio.abc.Stream) -> str:
    """A printable address for an accepted stream: ``host:port`` over TCP; over a
    Unix socket (whose client is unnamed) the peer process, from the kernel's
    ``SO_PEERCRED`` where there is one: ``unix:<pid> (uid <uid>)``."""
    sock = getattr(stream, "socket", None)
    if sock is None:
        return "?"
    try:
        name = sock.getpeername()
    except OSError:
        return "?"
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    if name:
        return str(name)
    cred = _peercred(sock)
    if cred is None:
        return "unix:?"
    return f"unix:{cred[0]} (uid {cred[1]})"


class UnsafeDirectory(Exception):
    """A runtime directory that is not private to this user."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason


def check_private_dir(path: str) -> None:
    """Raise :class:`UnsafeDirectory` unless ``path`` is a real directory (not a
    symlink) owned by this user and closed to everyone else."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise UnsafeDirectory(path, f"is {kind}")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(path, f"is owned by uid {st.st_uid}, not by us (uid {os.geteuid()})")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise UnsafeDirectory(path, f"has mode {mode:04o}: others can reach it (want 0700)")


def socket_dir(base: str) -> str:
    """The private directory for this user's Unix sockets under ``base``:
    ``devx-<uid>``, created 0700, or checked when it exists. One that is not ours or
    not private (someone else could swap a socket in it and read the next child's
    Hello, secret included) is never used: a fresh private directory is, with a
    warning saying what to remove."""
    d = os.path.join(base, f"devx-{os.getuid()}")
    fresh = _fallback_dirs.get(d)
    if fresh is not None and os.path.isdir(fresh):
        return fresh  # warned once already
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    try:
        check_private_dir(d)
        return d
    except UnsafeDirectory as exc:
        fresh = _earlier_fallback(base) or tempfile.mkdtemp(prefix=f"devx-{os.getuid()}-", dir=base)
        log.warning(
            "not using %s for Unix sockets: it %s; using the fresh private directory %s "
            "instead (remove it, or point XDG_RUNTIME_DIR at a private directory)",
            d,
            exc.reason,
            fresh,
        )
        _fallback_dirs[d] = fresh
        return fresh


_fallback_dirs: dict[str, str] = {}


def _earlier_fallback(base: str) -> str | None:
    """A fallback directory an earlier run made (``devx-<uid>-*``, ours and private
    still): reused, so that runs beside a planted directory do not pile them up."""
    prefix = f"devx-{os.getuid()}-"
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith(prefix))
    except OSError:
        return None
    for name in names:
        path = os.path.join(base, name)
        try:
            check_private_dir(path)
        except (UnsafeDirectory, OSError):
            continue
        return path
    return None


def _ip_literal(host: str) -> str | bytes:
    """``host`` as bytes when it is an IP address: ``getaddrinfo`` encodes a str host
    with the idna codec, whose first use imports it (~1-2 ms of every actor's boot);
    an address needs no encoding. A name stays a str (the codec checks it)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return host.encode("ascii")
    return host


def prune_dead_sockets(directory: str) -> int:
    """Remove the Unix sockets of actors that were killed (a clean exit removes its
    own): in ``directory`` (the caller's private one), a socket of the caller's named
    ``actor-<pid>-<hex>.sock`` whose pid no process has and on which nothing listens.
    A reused pid keeps its file (nothing is lost but a file). Returns how many went."""
    removed = 0
    me = os.geteuid()
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith("actor-") and name.endswith(".sock")):
            continue
        pid_text = name[len("actor-") :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # alive (or another user's pid, which is alive too)
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, ValueError):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if stat.S_ISSOCK(st.st_mode) and st.st_uid == me and not _listened_on(path):
                os.unlink(path)
                removed += 1
        except OSError:
            pass
    return removed


def _listened_on(path: str) -> bool:
    """Whether something listens on the Unix socket ``path`` (a pid that looks dead may
    be one of another pid namespace, a container sharing the directory): only a
    refused connection says nobody does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return False
        except OSError:
            return True
    return True


async def open_listener(
    transport: str = "tcp",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    uds_dir: str | None = None,
    sock_dir: str | None = None,
) -> tuple[trio.SocketListener, Addr]:
    """A listener on ``host:port`` (TCP; loopback and an ephemeral port unless
    given) or a private Unix socket: in
    ``sock_dir`` when that is private (a child uses its parent's directory), else in
    :func:`socket_dir` of ``uds_dir`` / ``$XDG_RUNTIME_DIR`` / ``/tmp``."""
    if transport == "tcp":
        listeners = await trio.open_tcp_listeners(port, host=_ip_literal(host))
        listener = listeners[0]
        for extra in listeners[1:]:
            await extra.aclose()
        sockname = listener.socket.getsockname()
        return listener, (sockname[0], sockname[1])
    if transport == "uds":
        d = None
        if sock_dir is not None:
            try:
                check_private_dir(sock_dir)
                d = sock_dir
            except (UnsafeDirectory, OSError):
                d = None
        if d is None:  # a root's (its children go beside it)
            d = socket_dir(uds_dir or os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
            # off the loop: a listdir, and a connect bounded at 0.2 s per dead pid's
            # socket; nothing waits for it (a file left for the next root is harmless)
            threading.Thread(
                target=prune_dead_sockets, args=(d,), name="devx-prune-sockets", daemon=True
            ).start()
        path = os.path.join(d, f"actor-{os.getpid()}-{os.urandom(4).hex()}.sock")
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        await sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(128)
        return trio.SocketListener(sock), path
    raise ValueError(f"unknown transport {transport!r} (use 'tcp' or 'uds')")
