"""The ways into pdb people type by habit, inside a debug-mode actor: through the one
door (:mod:`devx.debug.door`), as ``breakpoint()`` is.

``pdb.set_trace()`` (also ``from pdb import set_trace`` done before the runtime
started), ``pdbp.set_trace()``, ``pdb.Pdb().set_trace()``, ``pdb.post_mortem()``,
``pdb.pm()`` and pdbp's twins all end in one of two methods of a ``bdb.Bdb``
instance: ``set_trace(frame)`` or ``interaction(frame, tb)``. While a debug-mode
actor runs, those methods of the classes of ``bdb``, ``pdb`` (the stdlib's, and the
private copy pdbp builds of it) and ``pdbp`` are wrapped: called on a debugger that
is not devx's own :class:`~devx.debug.repl.PdbREPL`, they open devx's REPL instead,
under the tree's TTY lock (request, FIFO grant, banner, REPL, release, telemetry):

- ``set_trace(frame)``: what ``breakpoint()`` does (:func:`devx.pause_from_sync` at
  ``frame``: it stops on the calling line);
- ``interaction(None, tb)`` (a post-mortem): what ``devx.post_mortem()`` does;
- ``interaction(frame, None)`` (a stop of a pdb that was already tracing: ``python -m
  pdb``, ``pdb.run()``, a ``set_trace`` made before the runtime started): that pdb's
  own REPL, under a session of its own, one per stop.

In an actor of a debug tree that runs with ``debug_mode=False`` (it cannot take the
lock) each of them is refused with one line, as ``breakpoint()`` is there. Outside
(no runtime, ``debug_mode=False``, after the runtime ended) nothing is wrapped: plain
pdb is plain pdb. Patching classes, not module functions, makes the order of imports
not matter: ``from pdb import set_trace`` looks ``Pdb`` up at call time, pdbp rebinds
``pdb.Pdb`` and ``pdb.set_trace`` to its own on import, and both reach the same
methods. pdb and pdbp are not imported for this: those already imported are patched
at the actor's start, the others as they are imported (a ``sys.meta_path`` finder
that patches right after the module runs).

The other debuggers and shells people reach for take the same door:

- IPython's debugger (``ipdb.set_trace()``, ``ipdb.post_mortem()``,
  ``PYTHONBREAKPOINT=ipdb.set_trace``) is a pdb underneath: devx's REPL, as pdb's,
  its banner saying so (IPython's prompt would step through trio's internals, where
  devx's steps over the plumbing);
- pudb (``pudb.set_trace()``, ``pudb.post_mortem()``, ``PYTHONBREAKPOINT=
  pudb.set_trace``): devx's REPL too, its banner saying so. pudb's full-screen UI
  owns the whole terminal while it is up, which the tree's other actors (their
  output, their REPLs after this one) cannot share; a pudb with a terminal of its own
  (``PUDB_TTY``) or a remote one (``pudb.remote``) is left alone;
- IPython's ``embed()``: its own shell, under the tree's TTY lock (a banner, the
  lock held until the shell is left, as a REPL)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from types import FrameType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

__tracebackhide__ = True

Mode = Literal["door", "refuse", "ended"]

# what the wrappers do while an actor runs here (None: nothing, plain pdb; ended: a
# child's actor ended and its process runs its last code, see restore)
_mode: Mode | None = None
_ended_path = ""

# (class, method name) -> the method as it was before it was wrapped
_wrapped: dict[tuple[type, str], Callable[..., Any]] = {}

# the modules whose debugger classes are wrapped (pdbp's private copy of pdb is "pdb")
_MODULES = ("bdb", "pdb", "pdbp", "pudb.debugger")
_METHODS = ("set_trace", "interaction")
# IPython's embedded shell: its __call__ runs the shell (see _embed)
_EMBED = "IPython.terminal.embed"
_WATCHED = (*_MODULES, _EMBED)

# pudb warns, on stderr, when it cannot take SIGINT over (devx has it in an actor)
_PUDB_SIGINT_WARNING = r"A non-default handler for signal"
_filters_added: list[Any] = []


def active() -> Mode | None:
    return _mode


def install(mode: Mode) -> bool:
    """Route the ways into pdb (``refuse``: in a debug tree's actor that runs with
    ``debug_mode=False``, say no in one line). Returns whether it did (False: an
    actor of this process already has), for :func:`restore`."""
    global _mode
    if _mode is not None:
        return False
    _mode = mode
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
    patch_loaded()
    return True


def restore(installed: bool, *, ended_child: str = "") -> None:
    """Put every wrapped method back (unless someone replaced ours meanwhile) and stop
    watching imports: plain pdb again. ``ended_child`` (its path): a child's actor
    ended, and its process with it: the code that still runs there (atexit handlers,
    finalizers) is refused in one line instead (the tree's lock is out of reach, a
    bare pdb would read the terminal beside the tree's REPLs), as ``breakpoint()``."""
    global _mode, _ended_path
    if not installed:
        return
    if ended_child:
        _mode, _ended_path = "ended", ended_child
        return
    _mode = None
    while _Finder in sys.meta_path:
        sys.meta_path.remove(_Finder)
    import warnings

    for entry in _filters_added:
        if entry in warnings.filters:
            warnings.filters.remove(entry)  # type: ignore[attr-defined]
    _filters_added.clear()
    for (cls, name), original in list(_wrapped.items()):
        if getattr(cls.__dict__.get(name), "__devx_wrapped__", None) is original:
            setattr(cls, name, original)
        del _wrapped[(cls, name)]


def patch_loaded() -> None:
    """Wrap the methods of the debugger classes of the modules imported so far."""
    bdb = sys.modules.get("bdb")
    if _mode is None or bdb is None:
        return
    _patch_embed()
    if "pudb.debugger" in sys.modules and not _filters_added:
        import warnings

        warnings.filterwarnings("ignore", _PUDB_SIGINT_WARNING, UserWarning, "pudb")
        _filters_added.append(warnings.filters[0])
    seen: set[type] = set()
    todo: list[type] = [bdb.Bdb]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__ not in _MODULES:
            continue  # devx's PdbREPL, or a user's subclass: reached through its bases
        for name in _METHODS:
            method = cls.__dict__.get(name)
            if method is None or getattr(method, "__devx_wrapped__", None) is not None:
                continue
            _wrapped[(cls, name)] = method
            setattr(cls, name, _wrap(name, method))


def _wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    route = _set_trace if name == "set_trace" else _interaction

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if (
            _mode is None
            or getattr(type(self), "_devx_repl", False)
            or getattr(self, "_devx_routed", False)
            or not _reads_the_terminal(self)
        ):
            # no tree here, devx's own REPL, a stop already routed (its class's
            # interaction calling its base's), or a debugger that is the program's
            # own business (it reads no terminal)
            return method(self, *args, **kwargs)
        return route(method, self, *args, **kwargs)

    wrapper.__devx_wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def _reads_the_terminal(debugger: Any) -> bool:
    """Whether ``debugger`` reads the process's stdin, as a pdb made with its defaults
    does (``pdb.set_trace()``, ``pdb.Pdb()``, ``python -m pdb``, pdbp's, IPython's),
    or pudb's on the process's terminal: only those compete with the tree for the
    terminal. A bdb tracer that is no pdb (a line recorder or a profiler calling
    ``self.set_trace()`` to start tracing), a pdb given its own stdin (a remote pdb on
    a socket, a pdb scripted from a string) and a pudb on a terminal of its own
    (``PUDB_TTY``) or a socket (``pudb.remote``) are the program's, left as they are.
    (A process started with its fd 0 closed has no sys.stdin: its pdb's is None too,
    and is routed.)"""
    if _tool(debugger) == "pudb":
        remote = type(debugger).__module__.startswith("pudb.remote")
        return not remote and getattr(debugger, "_tty_file", None) is None
    stdin = getattr(debugger, "stdin", _NO_STDIN)
    return stdin is sys.stdin or stdin is sys.__stdin__


_NO_STDIN = object()  # a debugger that is no cmd.Cmd (a bdb tracer) has no stdin


def _tool(debugger: Any) -> str:
    """``pudb`` or ``ipdb`` for their debuggers (any class of theirs in its MRO), else
    ``pdb``."""
    for cls in type(debugger).__mro__:
        module = cls.__module__ or ""
        if module.startswith("pudb."):
            return "pudb"
        if module.startswith("IPython."):
            return "ipdb"
    return "pdb"


# the banner's line for a debugger whose own REPL is not the one that opens
_NOTES = {
    "ipdb": (
        "(IPython's debugger: devx's REPL opens here, one REPL at a time on the tree's terminal)"
    ),
    "pudb": (
        "(pudb's full-screen UI cannot share the tree's terminal: devx's REPL opens here; "
        "PUDB_TTY=/dev/pts/N gives pudb a terminal of its own)"
    ),
}


# --- the routes ------------------------------------------------------------------


def _set_trace(
    method: Callable[..., Any], pdb: Any, frame: FrameType | None = None, *a: Any, **kw: Any
) -> None:
    __tracebackhide__ = True
    if frame is None:
        frame = sys._getframe(2)  # the caller of the wrapper: who called set_trace()
    tool = _tool(pdb)
    if tool == "pudb" and not kw.get("paused", True):
        return  # pudb.set_trace(paused=False): pudb's trace with no stop, no REPL
    if via_pytest(pdb, "set_trace", frame):
        return
    # (named pdb's also for pdbp's: pdbp rebinds pdb.set_trace to its own, so which
    # one the user typed cannot be told)
    set_trace(frame, api=f"{tool}.set_trace", note=_NOTES.get(tool, ""), then=_after(pdb))


def set_trace(
    frame: FrameType,
    api: str = "pdb.set_trace",
    note: str = "",
    then: Callable[[str], None] | None = None,
) -> None:
    """``set_trace`` of any pdb in a debug-mode actor: devx's REPL at ``frame``, as
    ``breakpoint()`` (stopping on the calling line). ``note``: a line for its banner;
    ``then``: called with how the REPL was left."""
    __tracebackhide__ = True
    if _forked_skip(f"{api}()", frame):
        return
    if _mode in ("refuse", "ended"):
        _refuse(f"{api}()", frame)
        return
    from .pause import enter_trace
    from .session import Session
    from .sync import open_sync_session
    from .waiters import code_location

    session = open_sync_session(api, location=code_location(frame))
    assert isinstance(session, Session)  # (a runtime runs: no BareSession)
    if then is not None:
        session.on_release.append(then)
    if note and session.pdb is None:  # (a live REPL re-entered has had its banner)
        session.note = note
    enter_trace(session, frame)


def _interaction(method: Callable[..., Any], pdb: Any, frame: Any, tb: Any = None, *a: Any) -> Any:
    __tracebackhide__ = True
    if frame is None and tb is not None:
        if isinstance(tb, tuple):  # pudb's exc_info triple
            tb = tb[1] if isinstance(tb[1], BaseException) else tb[2]
        if via_pytest(pdb, "post_mortem", tb):
            return None
        tool = _tool(pdb)
        post_mortem(tb, api=f"{tool}.post_mortem", note=_NOTES.get(tool, ""), then=_after(pdb))
        return None
    if _forked_skip("a stop of pdb", frame):
        pdb.set_continue()  # (a pdb that traces: it would stop again at the next line)
        return None
    if _mode in ("refuse", "ended"):
        # a pdb that traces (python -m pdb, pdb.run) stops here: it is told to go on,
        # or it would stop again at the next line
        _refuse("a stop of pdb", frame)
        pdb.set_continue()
        return None
    return _foreign_stop(method, pdb, frame, tb, *a)


def post_mortem(
    t: TracebackType | BaseException,
    api: str = "pdb.post_mortem",
    note: str = "",
    then: Callable[[str], None] | None = None,
) -> None:
    """``pdb.post_mortem(t)`` (a traceback, or an exception on Python 3.13+) in a
    debug-mode actor: devx's post-mortem REPL, as ``devx.post_mortem()`` opens
    (``note`` and ``then`` as for :func:`set_trace`)."""
    __tracebackhide__ = True
    from .post_mortem import _last_frame, show_and_interact, user_tb

    exc: BaseException | None
    if isinstance(t, BaseException):
        exc, tb = t, t.__traceback__
    else:
        tb = t
        exc = _exception_of(tb)
    if _forked_skip(f"{api}()", _last_frame(tb)):
        return
    if _mode in ("refuse", "ended"):
        _refuse(f"{api}()", _last_frame(tb))
        return
    from ..core import schema
    from .sync import open_sync_session
    from .waiters import code_location

    tb = user_tb(tb)
    from .session import Session

    session = open_sync_session(
        api, reason=schema.HOLD_CRASH, location=code_location(_last_frame(tb))
    )
    assert isinstance(session, Session)  # (a runtime runs: no BareSession)
    if then is not None:
        session.on_release.append(then)
    session.note = note
    try:
        show_and_interact(session, exc, tb, no_repl="no REPL, continuing")
    finally:
        session.release("done")  # (left already: pdb's own exit released it)


def _exception_of(tb: TracebackType | None) -> BaseException | None:
    """The exception whose traceback ``tb`` is (or ends), if it can be found: the one
    being handled, or the last unhandled one (``pdb.pm()``)."""
    for exc in (sys.exc_info()[1], getattr(sys, "last_value", None)):
        if exc is None:
            continue
        node = exc.__traceback__
        while node is not None:
            if node is tb:
                return exc
            node = node.tb_next
    return None


def _foreign_stop(method: Callable[..., Any], pdb: Any, frame: FrameType, tb: Any, *a: Any) -> Any:
    """A stop of a pdb that was tracing already (``python -m pdb``, ``pdb.run()``, a
    ``set_trace`` made before the runtime started): its own REPL, once this task
    (thread) holds the terminal, with a banner; the terminal is given back when that
    REPL is left (each stop of it waits for its turn)."""
    __tracebackhide__ = True
    from ..runtime.actor import current_actor
    from . import door
    from .waiters import code_location

    actor = current_actor(err_on_no_runtime=False)
    if actor is None or not actor.debug_mode:
        return method(pdb, frame, tb, *a)
    where = code_location(frame)
    session = door._open(actor, _why_stopped(pdb, frame), where)
    if session is None:  # it cannot wait here (said in one line): no stop
        pdb.set_continue()
        return None
    from .session import interactive

    if not interactive():  # (CI, `< /dev/null`, attach mode: that pdb cannot be attached)
        session.announce(f"{where}\n    stdin is not a terminal: no REPL, continuing")
        session.release()
        pdb.set_continue()
        return None
    pdb.nosigint = True  # ctrl-c stays devx's (pdb would install its own on `c`)
    pdb._devx_routed = True
    try:
        # a step's stop right after this pdb's last one, nobody's REPL in between (the
        # lock grants holds in sequence), goes on as pdb's own steps do: no banner at
        # every `n`; one when another REPL had the terminal meanwhile, or after a `c`
        if getattr(pdb, "_devx_last_hold", -1) + 1 != session.hold_id or (
            _why_stopped(pdb, frame) != "step"
        ):
            session.announce(where)
        session.repl_started(frame)
        return method(pdb, frame, tb, *a)
    finally:
        pdb._devx_routed = False
        pdb._devx_last_hold = session.hold_id
        session.release("quit" if pdb.quitting else "continue")


def _why_stopped(pdb: Any, frame: FrameType) -> str:
    """``breakpoint`` for a stop reached after ``c`` (bdb continues with a stop line of
    -1: only a breakpoint stops it), else ``step`` (``n``, ``s``, ``r``, ``until``)."""
    return "breakpoint" if getattr(pdb, "stoplineno", None) == -1 else "step"


def _forked_skip(what: str, frame: FrameType | None) -> bool:
    """In a process forked from the actor (a multiprocessing fork worker, an
    ``os.fork()``), which has no runtime of its own: one line saying why no REPL opens,
    and the code goes on, as ``breakpoint()`` there (instead of the ``ForkedFromActor``
    an explicit devx call raises)."""
    from ..runtime.actor import current_actor

    actor = current_actor(err_on_no_runtime=False)
    if actor is None or actor.pid == os.getpid():
        return False
    from .breakpoint_hook import say_forked

    say_forked(what, frame)
    return True


def _refuse(what: str, frame: FrameType | None) -> None:
    """One line: no REPL here (as ``breakpoint()`` says it)."""
    from .breakpoint_hook import say_ended, say_plain

    if _mode == "ended":
        say_ended(what, frame, _ended_path)
    else:
        say_plain(what, frame)


def _after(debugger: Any) -> Callable[[str], None] | None:
    """What ``debugger``'s own ``c`` does besides going on, to be done when devx's REPL
    that opened in its place is left: pytest's (``pytest.set_trace()``, and pdb's ways
    in a test) resumes the output capture it suspended for the REPL and says so."""
    capman: Any = getattr(type(debugger), "_pytest_capman", _NO_STDIN)
    if capman is _NO_STDIN:
        return None

    def resume(how: str) -> None:
        if how not in ("yielded", "switched"):  # (else the REPL comes back: a step's
            _pytest_continue(capman, debugger)  # stop, or after the switch)

    return resume


def _pytest_continue(capman: Any, debugger: Any) -> None:
    """What pytest's pdb does on ``c``: take the output capture back (its "PDB
    continue" line) and tell its plugins (``pytest_leave_pdb``)."""
    debugging = sys.modules.get("_pytest.debugging")
    pytest_pdb = getattr(debugging, "pytestPDB", None)
    config = getattr(pytest_pdb, "_config", None)
    if pytest_pdb is None or config is None or pytest_pdb._recursive_debug:
        return
    from _pytest.config import create_terminal_writer

    writer = create_terminal_writer(config)
    writer.line()
    capturing = pytest_pdb._is_capturing(capman)
    if capturing:
        what = "" if capturing == "global" else f" for {capturing}"
        writer.sep(">", f"PDB continue (IO-capturing resumed{what})")
        capman.resume()
    else:
        writer.sep(">", "PDB continue")
    pytest_pdb._pluginmanager.hook.pytest_leave_pdb(config=config, pdb=debugger)


def pytest_pdb() -> Any:
    """pytest's ``pytestPDB`` when this process runs pytest's session (a test's
    in-process tree: its root) and routes pdb here, else None."""
    debugging = sys.modules.get("_pytest.debugging")
    pytests = getattr(debugging, "pytestPDB", None)
    if _mode != "door" or getattr(pytests, "_config", None) is None:
        return None
    from ..runtime.actor import current_actor

    actor = current_actor(err_on_no_runtime=False)
    if actor is None or actor.pid != os.getpid():
        return None  # (a process forked from the actor: it says so, its own way)
    return pytests


def via_pytest(debugger: Any, how: str, arg: Any) -> bool:
    """In a test's process (pytest capturing its output), a way into pdb that did not
    come through pytest's pdb (``breakpoint()``; ``pdb.set_trace()``, which pdbp,
    imported by the runtime, rebinds from pytest's to its own) goes through it, as
    outside a tree: pytest suspends its capture for the REPL, and resumes it when the
    REPL is left (:func:`_after`). Returns whether it did."""
    pytests = pytest_pdb()
    if pytests is None or hasattr(type(debugger), "_pytest_capman"):
        return False
    pytest_debugger = pytests._init_pdb(how)
    if how == "post_mortem":
        pytest_debugger.reset()
        pytest_debugger.interaction(None, arg)
    else:
        pytest_debugger.set_trace(arg)
    return True


def pytest_terminal(session: Any, how: str, make_pdb: Callable[[], Any]) -> Any:
    """In a test's in-process root, pytest capturing its output (stdin captured: no
    REPL), a REPL of devx's own (``await devx.pause()``, a crash's, a breakpoint
    reached after ``c``) gets the terminal pytest was started from, as pytest's pdb
    does (and the pdb ways here, :func:`via_pytest`): the capture is suspended, its
    separator line, ``pytest_enter_pdb`` (pytest-timeout, faulthandler: no timeout
    while the user sits in the REPL); when ``session`` is released the capture is
    resumed as after pytest's ``c``. Returns the PdbREPL made for it (``make_pdb``),
    or None with nothing changed: no test here, no capture, or no terminal behind it
    (CI: stdin /dev/null), where the REPL is skipped as before."""
    pytests = pytest_pdb()
    manager = getattr(pytests, "_pluginmanager", None)
    if pytests is None or manager is None or pytests._recursive_debug:
        return None
    capman = manager.getplugin("capturemanager")
    capturing = pytests._is_capturing(capman)
    if not capturing:
        return None  # (pytest -s: stdin is pytest's own, a terminal or not)
    from .session import interactive

    capman.suspend(in_=True)
    if not interactive():  # pytest itself has no terminal: captured again, unchanged
        capman.resume()
        return None
    from _pytest.config import create_terminal_writer

    writer = create_terminal_writer(pytests._config)
    writer.line()
    what = "" if capturing == "global" else f" for {capturing}"
    writer.sep(">", f"PDB {how} (IO-capturing turned off{what})")
    pdb = make_pdb()
    manager.hook.pytest_enter_pdb(config=pytests._config, pdb=pdb)

    def resume(how: str) -> None:
        if how not in ("yielded", "switched"):
            _pytest_continue(capman, pdb)

    session.on_release.append(resume)
    return pdb


def _patch_embed() -> None:
    """Wrap IPython's embedded shell's ``__call__`` (``IPython.embed()``, an
    ``InteractiveShellEmbed`` instance called), once its module is imported."""
    module = sys.modules.get(_EMBED)
    cls = getattr(module, "InteractiveShellEmbed", None)
    if cls is None:
        return
    method = cls.__dict__.get("__call__")
    if method is None or getattr(method, "__devx_wrapped__", None) is not None:
        return
    _wrapped[(cls, "__call__")] = method

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if _mode is None:
            return method(self, *args, **kwargs)
        return _embed(method, self, *args, **kwargs)

    wrapper.__devx_wrapped__ = method  # type: ignore[attr-defined]
    cls.__call__ = wrapper


def _embed(method: Callable[..., Any], shell: Any, *args: Any, **kwargs: Any) -> Any:
    """IPython's embedded shell in a debug-mode actor: it reads the terminal as a
    REPL does, so it runs as one, under the tree's TTY lock (a banner, the lock held
    until the shell is left, telemetry). Where no REPL can open it does not run."""
    __tracebackhide__ = True
    import inspect

    bound = inspect.signature(method).bind(shell, *args, **kwargs)
    # its stack_depth counts frames from its __call__: the wrapper and this one are
    # in between now
    depth = bound.arguments.get("stack_depth", 1)
    frame = sys._getframe(depth + 1)
    bound.arguments["stack_depth"] = depth + 2
    extra = bound.arguments.setdefault("kw", {})
    code = frame.f_code
    where_id = extra.setdefault("_call_location_id", f"{code.co_filename}:{frame.f_lineno}")
    shell._call_location_id = where_id  # (what __call__ sets first: embedded_active reads it)
    dummy = bound.arguments.get("dummy")
    if not shell.embedded_active or dummy or (dummy != 0 and shell.dummy_mode):
        return method(*bound.args, **bound.kwargs)  # it will not run: no lock
    api = "IPython.embed"
    if _forked_skip(f"{api}()", frame):
        return None
    if _mode in ("refuse", "ended"):
        _refuse(f"{api}()", frame)
        return None
    from .session import Session, interactive
    from .sync import open_sync_session
    from .waiters import code_location

    where = code_location(frame)
    session = open_sync_session(api, location=where)
    assert isinstance(session, Session)  # (a runtime runs: no BareSession)
    if not interactive():
        session.announce(f"{where}\n    stdin is not a terminal: no shell, continuing")
        session.release()
        return None
    session.note = "(IPython's shell: the tree's terminal is yours until you leave it)"
    session.announce(where)
    session.repl_started(frame)
    try:
        return method(*bound.args, **bound.kwargs)
    finally:
        session.release()


# --- patching on import ------------------------------------------------------------


class _Finder:
    """Patches ``bdb``, ``pdb``, ``pdbp``, pudb's debugger and IPython's embedded
    shell right after they are imported."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _WATCHED or _mode is None:
            return None
        for finder in sys.meta_path:
            if finder is cls:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec  # type: ignore[no-any-return]


class _PatchingLoader:
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, is_package ... as the real one
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        patch_loaded()
