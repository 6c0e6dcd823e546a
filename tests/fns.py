"""Functions the runtime tests call in child actors (an importable module)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import trio

import devx


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await trio.sleep(0)
    return a + b


async def whoami() -> dict:
    actor = devx.current_actor()
    lin = actor.lineage
    return {
        "name": actor.name,
        "uuid": actor.uid.uuid,
        "path": actor.path,
        "pid": os.getpid(),
        "ppid": lin.parent_pid,  # the parent actor (a fork server's child: not the OS's)
        "os_ppid": os.getppid(),
        "parent": [lin.parent_uid.name, lin.parent_uid.uuid] if lin.parent_uid else None,
        "root": [lin.root_uid.name, lin.root_uid.uuid],
    }


class Boom(Exception):
    pass


async def meet(barrier: str, parties: int) -> None:
    """A barrier across processes: mark this one in the directory ``barrier``, then
    wait until ``parties`` processes have. Shielded: a sibling that got through first
    and failed cannot cancel the others out of it."""
    Path(barrier, str(os.getpid())).touch()
    with trio.CancelScope(shield=True):
        while len(os.listdir(barrier)) < parties:
            await trio.sleep(0.005)


async def raise_boom(msg: str = "boom", barrier: str = "", parties: int = 0) -> None:
    """Raise; with ``barrier``, once ``parties`` actors are there (several actors fail
    together, each before a sibling's failure can cancel it)."""
    if barrier:
        await meet(barrier, parties)
    raise Boom(msg)


def raise_value_error() -> None:
    raise ValueError("bad value")


async def sleep_forever(marker: str = "") -> None:
    """Sleep forever; with ``marker``, create that file first (the call is running)."""
    if marker:
        Path(marker).touch()
    await trio.sleep_forever()


async def tick_then_sleep() -> AsyncIterator[str]:
    """Say "sleeping" (the caller knows the call is under way), then sleep forever."""
    yield "sleeping"
    await trio.sleep_forever()


async def return_unencodable() -> object:
    return object()


async def nested_whoami() -> list[dict]:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("sub", enable_modules=[__name__])
        return [await whoami(), await portal.run(whoami)]


async def nested_raise() -> None:
    async with devx.open_nursery() as an:
        await an.run_in_actor(raise_boom, name="leaf", msg="from the leaf")


async def spawn_sleepers(n: int) -> AsyncIterator[list[int]]:
    """Spawn ``n`` grandchildren that sleep forever; yield their pids once they are
    all up (a stream: the caller knows when), then sleep."""
    async with devx.open_nursery() as an:
        pids = []
        for i in range(n):
            portal = await an.start_actor(f"gc{i}", enable_modules=[__name__])
            pids.append((await portal.run(whoami))["pid"])
        yield pids
        await trio.sleep_forever()


async def my_pid() -> int:
    return os.getpid()


async def count(n: int):
    for i in range(n):
        yield i


def die_hard(code: int = 7) -> None:
    os._exit(code)


def sys_exit(code: int = 7) -> None:
    sys.exit(code)


def at_exit_write_pid(path: str, code: int | None) -> int:
    """An atexit handler for this process: writes its pid to ``path``, then (``code``)
    ends the process with that code (``os._exit``). Returns the pid."""
    import atexit

    def handler() -> None:
        Path(path).write_text(str(os.getpid()))
        if code is not None:
            os._exit(code)

    atexit.register(handler)
    return os.getpid()


def at_exit_run_trio(path: str) -> None:
    """An atexit handler for this process that runs trio (writes ``path`` from a trio
    run of its own)."""
    import atexit

    async def write() -> None:
        Path(path).write_text("trio ran")

    atexit.register(trio.run, write)


async def start_a_service_that_writes_at_its_end(path: str) -> None:
    """Start a service task of this actor whose ``finally`` writes ``path``: it is
    cancelled with the actor's own services, as the actor ends."""

    async def service() -> None:
        try:
            await trio.sleep_forever()
        finally:
            Path(path).write_text("service unwound")

    devx.current_actor().start_service_soon(service)


def leave_files_open(path: str, lines: int) -> None:
    """Write ``lines`` lines to three files this actor's code leaves open (never
    closed, never flushed): a text file and a gzip file held by this module, a text
    file in a list; their buffers are only written by their finalization; and a zip
    archive (``path``.zip, one member), whose directory only its close writes. A
    temporary file left open beside them (finalization removes it): its path is
    ``path``.tmp's text."""
    import gzip
    import tempfile
    import zipfile

    temp = tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path))
    temp.write("gone at the end")
    Path(f"{path}.tmp").write_text(temp.name)
    _KEPT.append(temp)

    text = open(f"{path}.txt", "w")  # (left open on purpose, as the next three)
    packed = gzip.open(f"{path}.gz", "wt")
    _KEPT.extend([text, packed, [open(f"{path}.inner", "w")]])
    for i in range(lines):
        text.write(f"line {i}\n")
        packed.write(f"line {i}\n")
    _KEPT[-1][0].write("inner\n")  # type: ignore[index]
    archive = zipfile.ZipFile(f"{path}.zip", "w")  # (its close writes its directory)
    archive.writestr("member.txt", "zipped\n")
    _KEPT.append(archive)


class _LazyProxy:
    """A lazy proxy's shape (django's SimpleLazyObject): ``__class__`` evaluates the
    wrapped object, here one whose making fails after leaving a mark at ``path``."""

    def __init__(self, path: str) -> None:
        self.__dict__["_path"] = path

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        Path(self.__dict__["_path"]).write_text("evaluated")
        raise RuntimeError("the lazy object's settings are not configured")


def leave_what_an_end_must_not_touch(path: str, what: str) -> None:
    """Leave files open as :func:`leave_files_open` (10 lines), and beside them
    ``what``: a daemon thread blocked reading a pipe (as a thread reading a
    subprocess's output or a socket's ``makefile()``: it holds the reader's lock), or
    reading a socket's ``makefile("rwb")`` (whose close takes that lock too), a
    daemon thread blocked writing into a pipe nobody reads (it holds the writer's
    lock), or a lazy proxy (its ``__class__``, if read, writes ``path``.evaluated and raises)."""
    if what == "a thread reading a pipe":
        import threading

        r, w = os.pipe()
        reader = os.fdopen(r, "rb")
        _KEPT.append((reader, w))  # (the write end kept: the read never returns)
        threading.Thread(target=reader.read, args=(1,), daemon=True).start()
    elif what == "a thread reading a socket's makefile('rwb')":
        import socket
        import threading

        ours, theirs = socket.socketpair()
        both = ours.makefile("rwb")  # (a BufferedRWPair: written too)
        both.write(b"kept")
        _KEPT.append((ours, theirs, both))
        threading.Thread(target=both.read, args=(1,), daemon=True).start()
    elif what == "a thread blocked writing into a full pipe":
        import threading

        r, w = os.pipe()
        writer = os.fdopen(w, "wb")  # (nobody reads r: the write blocks, holding its lock)
        _KEPT.append((writer, r))
        started = threading.Event()

        def fill() -> None:
            started.set()
            writer.write(b"x" * (1 << 20))

        threading.Thread(target=fill, daemon=True).start()
        started.wait()
    else:
        _KEPT.append(_LazyProxy(f"{path}.evaluated"))
    leave_files_open(path, 10)


def my_listen_addr() -> object:
    return devx.current_actor().listen_addr


_KEPT: list[object] = []


async def keep_a_suspended_async_generator(path: str) -> None:
    """Leave an async generator suspended at a yield (kept alive): trio finalizes it
    as its run ends, and its ``finally`` writes ``path``."""

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            Path(path).write_text("finalized")

    gen = agen()
    await gen.__anext__()
    _KEPT.append(gen)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def thread_names() -> list[str]:
    import threading

    return sorted(t.name for t in threading.enumerate())


def hang_up_and_block(seconds: float) -> None:
    """Shut down this actor's channel to its parent, then block its loop: the parent
    sees the channel end while the process lives on."""
    import socket
    import time

    chan = devx.current_actor().parent_chan
    assert chan is not None
    socket.socket(fileno=os.dup(chan.fileno())).shutdown(socket.SHUT_RDWR)
    time.sleep(seconds)


class ChildrenCancelled:
    """A hook (tests/test_runtime.py registers it by path): each time a nursery of its
    actor asked its children to cancel, which children had been asked."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def children_cancelled(self, actor: object) -> None:
        children = getattr(actor, "children", ())
        self.seen.append(sorted(r.name for r in children if r.cancel_requested))


CHILDREN_CANCELLED = ChildrenCancelled()
