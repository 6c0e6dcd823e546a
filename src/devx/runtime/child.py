"""Entry point of a child actor process: ``python -m devx.runtime.child``, or
:func:`run_forked` in a process the fork server forked.

Reads its :class:`~devx.runtime.msgs.SpawnSpec` from the pipe fd given on argv (or is
handed it by the zygote), says hello to its parent over the socket it inherited (its
end of a socketpair: no listener involved), imports its enabled modules,
reports ready and serves calls until it is cancelled or loses its parent.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import traceback
from typing import Any

import msgspec
import trio

from ..core import schema, settings, threads
from . import console, ipc, left_open, lifeline, registry
from . import log as runtime_log
from .actor import INERT, Actor, current_actor
from .errors import ChannelClosed
from .msgs import ActorID, Error, Exiting, Lineage, Ready, SpawnSpec, set_actor_vars

EXIT_NO_PARENT = lifeline.EXIT_NO_PARENT


def _ignore_sigint(signum: int, frame: object) -> None:
    """ctrl-c reaches every process of the terminal's group; in a child it is the
    root's job to cancel the tree, over IPC (the debug layer may replace this)."""


def read_spec(fd: int) -> SpawnSpec:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return msgspec.msgpack.decode(b"".join(chunks), type=SpawnSpec)


async def run_child(spec: SpawnSpec, chan_fd: int) -> int:
    path = f"{spec.parent_path}/{spec.name}"
    lineage = Lineage(
        uid=ActorID(spec.name, spec.uuid),
        parent_uid=spec.parent_uid,
        root_uid=spec.root_uid,
        path=path,
        pid=os.getpid(),
        parent_pid=spec.parent_pid or os.getppid(),
    )
    actor = Actor(
        lineage=lineage,
        config=spec.config,
        secret=spec.secret,
        enable_modules=spec.enable_modules,
        is_root=False,
        root_addr=spec.root_addr,
        spawn_carrier=spec.trace_carrier,
        transport=spec.transport,
        registry_addrs=list(spec.registry_addrs),
        listen_host=spec.listen_host,
    )
    actor.main_ref = (spec.main_module, spec.main_path)
    # first SIGTERM: cancel gracefully; a loop that does not react within the grace
    # (blocked in sync code), or a second SIGTERM: children killed, exit at once.
    # Installed before the parent's channel is served: a call that blocks the loop
    # from the start (run inline by the reader) must not leave SIGTERM to its default
    lifeline.watch_sigterm(
        path=path,
        grace=_cancel_grace,
        cancel=lambda: actor.cancel(schema.CANCELLED_BY_SIGTERM),
        cancelled=actor.cancel_called.is_set,
        kill_children=actor.kill_children,
        term_children=actor.term_children,
    )
    actor.spawn_parent_addr = spec.parent_addr
    runtime_log.setup(spec.config.loglevel, actor.lineage_attrs())
    try:
        chan = await actor.connect_inherited(chan_fd)  # (our hello sent: answered later)
    except (OSError, ChannelClosed, trio.TooSlowError) as exc:
        console.write(f"devx: actor {path!r} cannot reach its parent: {exc}\n")
        return EXIT_NO_PARENT
    # a debug-mode actor imports its modules once its hooks run and its parent's
    # channel is served: a `breakpoint()` at a module's top level is then the tree's
    # REPL (its lock, its banner; skipped without a terminal) and its parent's boot
    # watch holds its clock while that REPL is live; before, it was a plain pdb outside
    # the lock that DEVX_BOOT_TIMEOUT SIGKILLed under the user's prompt. So does any
    # actor of a debug tree: one with debug_mode=False skips the call with a line
    late = spec.config.debug_mode or spec.config.debug_tree
    loaded = late or await _load(actor, spec, chan)
    # the parent's answer to our hello, read while the modules loaded; read before a
    # failed load's close too: with it unread, the close resets the connection, and a
    # parent still answering could lose the boot error sent just before (its user then
    # read 'exited with code 1 before it was ready' instead of the error and what to do)
    try:
        await actor.parent_answered(chan)
    except (OSError, ChannelClosed, trio.TooSlowError) as exc:
        if loaded:
            console.write(f"devx: actor {path!r} cannot reach its parent: {exc}\n")
            return EXIT_NO_PARENT
    if not loaded:
        await chan.aclose()
        return 1
    actor.parent_chan = chan  # before the hooks: they may call the parent (the root)
    chan.held_to_exit = True  # closed once the run is over (ipc.close_held, _exit_now)
    async with actor.running():
        assert actor._service is not None
        if "devx.runtime.forkserver" in sys.modules:  # forked by the zygote, which loaded it
            from . import forkserver  # (a subprocess child never loads the fork server)

            await forkserver.attach_inherited(actor)  # forked: our children are forked too
        actor._service.start_soon(actor.serve_channel, chan)
        if late:
            if not await _load(actor, spec, chan):
                return 1
            actor.notify_modules_loaded()  # (e.g. the code's structlog: its JSON lines)
        if actor.registry_addrs:  # registered before it is ready: found from then on
            await actor.start_service(registry.keep_registered, actor)
        try:
            await chan.send(Ready(pid=os.getpid()))
        except ChannelClosed:
            return EXIT_NO_PARENT
        actor.reported_ready.set()
        left_open.freeze_until_ready()  # (its walk at the end: on its parent's wait)
        await actor.cancel_called.wait()
        code = _exit_code(actor)
        actor.end_before_services = lambda: _end_before_services(actor, code)
    code = _exit_code(actor)
    if _may_exit_in_run():
        console.drain()
        _exit_now(code)  # (never returns)
    return code


def _exit_code(actor: Actor) -> int:
    """0, or the code of an end by a SIGTERM (even graceful): the parent sees it."""
    return 128 + signal.SIGTERM if actor.cancel_reason == schema.CANCELLED_BY_SIGTERM else 0


_atexit_at_start: int | None = None  # atexit's handlers as the run began (see _serve)


def _end_before_services(actor: Actor, code: int) -> None:
    """Called by ``actor.running()`` once its body is over and its hooks unwound
    cleanly (its telemetry written), before its services are cancelled: when those
    services are only its own listener(s), the reader of its parent's channel and
    services whose cancel does nothing (``Actor.start_inert_service_soon``),
    and nothing else would be left for trio's end (:func:`_may_exit_in_run`'s
    conditions), the process ends now: its Unix socket's path removed (its sockets
    are closed by the process's end), the parent's channel's last frame its exit
    code, as at the end of the run. Their unwinding (~0.3 ms of cancellation, three
    scheduler passes, on the parent's wait in every teardown) does nothing a
    process's end does not. Any other task, a child of its own, a callback on the
    parent's channel: the usual way."""
    chan = actor.parent_chan
    if chan is None or chan.closed or chan.on_gone or actor.children:
        return
    try:
        from trio._core._run import GLOBAL_RUN_CONTEXT  # no public way to ask

        tasks = list(GLOBAL_RUN_CONTEXT.runner.tasks)
    except Exception:
        return
    listeners = []
    readers = inert = 0
    fork_client = _fork_client_code()
    for task in tasks:
        what = actor.plain_service(task, chan)
        if what is chan:
            readers += 1
        elif what is INERT:
            inert += 1
        elif what is not None:
            listeners.append(what)
        elif fork_client is not None and getattr(task.coro, "cr_code", None) is fork_client:
            readers += 1  # a forked child's zygote connection: nothing forked through it
    running = getattr(Actor.running, "__wrapped__", None)
    inside = getattr(running, "__code__", None)
    if inside is None or readers != 1 + (fork_client is not None):
        return
    if not _may_exit_in_run(services=readers + inert + len(listeners), inside=inside):
        return
    if listeners:  # (its sockets: closed by the process's end, ~70 us earlier here)
        actor.remove_listener_path()
    ipc.hold_for_exit(chan)
    console.drain()
    _exit_now(code)  # (never returns)


def _fork_client_code() -> Any:
    """In a forked child, the code of its zygote connection's service task (it forks
    this actor's children through it); ``None`` in a subprocess child."""
    forkserver = sys.modules.get(f"{__package__}.forkserver")
    client = getattr(forkserver, "_client", None)
    if client is None or client._procs:
        return None
    return type(client).run.__code__


def _may_exit_in_run(services: int = 0, inside: Any = None) -> bool:
    """Whether this child may end its process from inside its trio run, its actor
    done: trio's own end (~0.25 ms of its parent's wait in every teardown: its system
    tasks, its I/O manager) is skipped only when nothing is left for it to run. A
    child not running trio as asyncio's guest, no atexit handler added since its run
    began (one may call trio.run, which fails inside a run; a forked child's own
    from before, the zygote's, are devx's and the hook modules' it preloaded, run
    by a subprocess child inside its run too), no async generator left
    for trio to finalize, no task but trio's own two and this one, nothing queued
    by run_sync_soon (``services``: that many of the actor's own service tasks
    left besides; ``inside``: the code of the async generator this runs in, alive
    still: ``Actor.running``'s). From trio's internals: anything unexpected there,
    and the run returns as usual."""
    if _atexit_at_start is None:
        return False
    try:
        import atexit

        from trio._core._run import GLOBAL_RUN_CONTEXT  # no public way to ask

        runner = GLOBAL_RUN_CONTEXT.runner
        queue = runner.entry_queue
        return bool(
            atexit._ncallbacks() == _atexit_at_start
            and not runner.is_guest
            and all(getattr(g, "ag_code", None) is inside for g in runner.asyncgens.alive)
            and not runner.asyncgens.trailing_needs_finalize
            and len(runner.tasks) == 3 + services
            and runner.main_task is trio.lowlevel.current_task()
            and not queue.queue
            and not queue.idempotent_queue
        )
    except Exception:
        return False


async def _load(actor: Actor, spec: SpawnSpec, chan: ipc.Channel) -> bool:
    """Import the enabled modules; a failure is sent to the parent as the boot's
    error (False)."""
    try:
        actor.load_modules(spec)
    except Exception as exc:
        try:
            await chan.send(Error(cid=0, error=actor.box(exc)))
        except ChannelClosed:
            pass
        return False
    return True


def _cancel_from_thread(reason: str) -> None:
    """The lifeline thread's graceful step: cancel the actor on its own loop."""
    actor = current_actor(err_on_no_runtime=False)
    if actor is not None and actor.trio_token is not None:
        actor.trio_token.run_sync_soon(actor.cancel, reason)


def _kill_children() -> None:
    actor = current_actor(err_on_no_runtime=False)
    if actor is not None:
        actor.kill_children()


def _term_children() -> list[int]:
    actor = current_actor(err_on_no_runtime=False)
    return actor.term_children() if actor is not None else []


USAGE = (
    "python -m devx.runtime.child --spawn-fd FD --chan-fd FD --name NAME [--path PATH]"
    " | --spare-fd FD"
)


def parse_argv(argv: list[str]) -> tuple[int, int, str, str]:
    """The spawner's command line (:meth:`SubprocessSpawner.argv`): spawn fd, channel
    fd, name, path; a spare's (:class:`~devx.runtime.spawn.Spare`): its socket, then
    -1 and no name. Read by hand: argparse would cost every child's boot its import."""
    opts = dict(zip(argv[::2], argv[1::2], strict=False))
    try:
        if len(argv) % 2 or set(opts) - {"--spawn-fd", "--chan-fd", "--name", "--path"}:
            if len(argv) == 2 and "--spare-fd" in opts:
                return int(opts["--spare-fd"]), -1, "", ""
            raise ValueError(f"unexpected arguments {argv!r}")
        spawn_fd, chan_fd = int(opts["--spawn-fd"]), int(opts["--chan-fd"])
        return spawn_fd, chan_fd, opts["--name"], opts.get("--path", "")
    except KeyError as exc:
        raise SystemExit(f"devx.runtime.child: {exc.args[0]} missing (usage: {USAGE})") from None
    except ValueError as exc:
        raise SystemExit(f"devx.runtime.child: {exc} (usage: {USAGE})") from None


def main(argv: list[str] | None = None, *, collector: bool = False) -> None:
    """``collector``: turn the garbage collector on once the boot's objects are frozen
    (:data:`~devx.runtime.spawn.SPARE_BOOT` imports with it off)."""
    spawn_fd, chan_fd, name, path = parse_argv(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGINT, _ignore_sigint)
    spare = chan_fd < 0
    # first of all: never outlive the parent, even should the boot itself hang
    lifeline.start(
        os.getppid(),
        path=path or name or "(spare)",
        grace=_cancel_grace,
        cancel=_spare_cancel if spare else _cancel_from_thread,
        kill_children=_kill_children,
        term_children=_term_children,
    )
    if not spare:
        _serve(read_spec(spawn_fd), chan_fd, exit_in_run=True)
    taken = take_spec(spawn_fd)
    if taken is None:  # nobody took it: the tree spawned nothing, or it fit no spawn
        os._exit(0)
    spec, chan_fd = taken
    _TAKEN.append(True)
    path = f"{spec.parent_path}/{spec.name}"
    lifeline.rename(path)
    set_actor_vars(os.environ, spec)
    # (as `python -m devx.runtime.child`'s: started with -c, see spawn.SPARE_BOOT)
    sys.argv[:] = [__file__, "--spare-fd", str(spawn_fd), "--name", spec.name, "--path", path]
    _serve(spec, chan_fd, exit_in_run=True, collector=collector)


_TAKEN: list[bool] = []  # a spare: its spec came (it is an actor now)


def _spare_cancel(reason: str) -> None:
    """The lifeline's cancel in a spare: its parent died. Nobody took it yet: it exits
    at once, quietly (it was nobody's actor)."""
    if not _TAKEN:
        os._exit(EXIT_NO_PARENT)
    _cancel_from_thread(reason)


def take_spec(fd: int) -> tuple[SpawnSpec, int] | None:
    """A spare's spec and its channel's socket (see :class:`~devx.runtime.spawn.Spare`),
    read from its socket ``fd`` to the end; ``None`` when none came."""
    from .fdpass import fds_of

    sock = socket.socket(fileno=fd)
    chunks: list[bytes] = []
    fds: list[int] = []
    try:
        while True:
            data, anc, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
            fds += fds_of(anc)
            if not data:
                break
            chunks.append(data)
    except OSError:  # (reset: the parent died)
        chunks = []
    finally:
        sock.close()
    if not chunks or not fds:
        for extra in fds:
            os.close(extra)
        return None
    for extra in fds[1:]:
        os.close(extra)
    return msgspec.msgpack.decode(b"".join(chunks), type=SpawnSpec), fds[0]


def run_forked(spec: SpawnSpec, *, parent_fd: int, chan_fd: int) -> None:
    """The fork server's child, once the zygote's state is undone (see
    :mod:`devx.runtime.zygote`): the same boot as :func:`main`, watching the parent
    actor through the lifeline pipe ``parent_fd`` (the OS parent is the zygote)."""
    signal.signal(signal.SIGINT, _ignore_sigint)
    lifeline.start(
        spec.parent_pid,
        parent_fd=parent_fd,
        path=f"{spec.parent_path}/{spec.name}",
        grace=_cancel_grace,
        cancel=_cancel_from_thread,
        kill_children=_kill_children,
        term_children=_term_children,
    )
    _serve(spec, chan_fd, exit_in_run=True)


def _cancel_grace() -> float:
    """The tree's grace (its settings once the spawn spec is read; the inherited
    environment's before)."""
    return settings.current().cancel_grace


def _serve(
    spec: SpawnSpec, chan_fd: int, *, exit_in_run: bool = False, collector: bool = False
) -> None:
    """Run the actor of ``spec`` to its end and exit the process (never returns);
    ``chan_fd``: its end of the socketpair to its parent. ``exit_in_run``: the process
    may end from inside its trio run once the actor is done (:func:`_may_exit_in_run`).
    ``collector``: the garbage collector, off for the imports, goes on once they are
    frozen (before the actor's code runs: its garbage is collected as usual)."""
    global _atexit_at_start
    settings.install(spec.settings)  # the root's values, never the environment's
    if spec.sys_path:
        sys.path[:] = spec.sys_path
    # (the actor's code runs after: its files are found at the end)
    left_open.freeze_boot_objects(f"{spec.parent_path}/{spec.name}")
    if collector:
        gc.enable()
    if exit_in_run and not spec.infect_asyncio:
        import atexit

        _atexit_at_start = getattr(atexit, "_ncallbacks", lambda: None)()
    try:
        if spec.infect_asyncio:
            from . import asyncio_guest

            code = asyncio_guest.run(run_child, spec, chan_fd)
        else:
            code = trio.run(run_child, spec, chan_fd)
    except BaseException as exc:
        leaf = exc
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]  # (the actor's nurseries wrap what ends it)
        if isinstance(leaf, SystemExit):  # sys.exit() in the actor's code: its code
            code = _exit_code_of(leaf)
        else:
            console.write(traceback.format_exc())
            code = 1
    console.drain()  # devx output held back by a REPL still live elsewhere: not lost
    _exit_now(code)


def _exit_code_of(exc: SystemExit) -> int:
    """The process's exit code for ``exc``, as the interpreter makes it: ``None`` is 0,
    an int is itself, anything else is written to stderr and is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    console.write(f"{exc.code}\n")
    return 1


def _exit_now(code: int) -> None:
    """End the process as soon as the actor is done: its telemetry is flushed and
    its children are gone by now. The atexit handlers run (user code may rely on
    them), stdio is flushed and files the actor's code left open are closed (their
    buffers written: :mod:`~devx.runtime.left_open`), but the rest of the
    interpreter's own finalization (tearing down every module, which costs an idle
    child most of its exit time) is skipped,
    and a non-daemon thread left behind by user code cannot keep the process alive
    past its tree (it would be a child outliving its cancel)."""
    import atexit

    try:
        run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
        if run_exitfuncs is not None:
            run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        left_open.close_left_open()
        # the channel's end, with the exit code as its last frame: a parent done with
        # its block needs no more (it reaps this process once its own teardown ran,
        # beside the kernel's end of this one: ~2 ms for an interpreter that imported
        # trio). Nothing runs in between but the exit itself
        threads.end_helpers()  # the main thread is the process's last: core.threads
        ipc.close_held(ipc.encode(Exiting(code=code)))
        os._exit(code)


if __name__ == "__main__":
    main()
