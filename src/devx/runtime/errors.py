"""Errors of the actor runtime, most importantly :class:`RemoteActorError`: an
exception raised in another actor, boxed with its type, message, traceback text and
the lineage of the actor it came from."""

from __future__ import annotations

import bdb
import builtins
import importlib
import sys
from types import TracebackType
from typing import Any

import msgspec
import trio

from ..core import tb_text
from .msgs import ActorID, ErrorInfo


class RuntimeErrorBase(Exception):
    """Base of the runtime's own errors."""


class NoRuntime(RuntimeErrorBase):
    """No actor runtime is running in this process (no root opened, not a child)."""


class ForkedFromActor(NoRuntime):
    """A debugger entry point called in a process forked from an actor (multiprocessing's
    fork, ``os.fork()``): it inherited the actor's state but runs no runtime of its own,
    so it cannot take the tree's TTY lock (and waiting on the actor's loop, which the
    fork did not copy, would hang it)."""


class ModuleNotEnabled(RuntimeErrorBase):
    """A call named a module the actor was not told to serve (``enable_modules``)."""


class FunctionNotFound(RuntimeErrorBase):
    """A call named a function its module does not have."""


class MsgTypeError(RuntimeErrorBase):
    """A frame that is not a valid devx message (wrong framing, tag, field or type)."""


ModuleNotExposed = ModuleNotEnabled  # the peer project's name


class IPCEncodeError(TypeError):
    """Arguments or a return value that cannot be encoded for IPC."""


class ChannelClosed(RuntimeErrorBase):
    """The connection to a peer actor closed (or broke) while it was needed."""


TransportClosed = ChannelClosed  # the peer project's name


class ProtocolMismatch(RuntimeErrorBase, ConnectionError):
    """An actor of another tree runs a devx whose wire protocol is not this one's
    (refused at the hello, see ``msgs.PROTOCOL``): the message says both and what to
    do. A ``ConnectionError``, as a refused connection is."""


class ContextError(RuntimeErrorBase, RuntimeError):
    """A context used the wrong way (``started`` twice, a stream before ``started``,
    an undecorated function given to ``open_context`` ...); raised on the side that
    made the mistake. A ``RuntimeError`` too, as the peer project raises for these."""


class StreamClosed(RuntimeErrorBase, trio.ClosedResourceError):
    """A context stream used after it was closed: ``send``/``receive`` after this side
    closed it, ``send`` after having read the peer's end, re-opening it. A
    ``trio.ClosedResourceError`` too, which is what programs catch for this."""


class StreamOverrun(RuntimeErrorBase, trio.TooSlowError):
    """The peer project's error for a stream whose receiver's buffer overflowed.
    Never raised by devx: its streams are credit-based (a sender waits while its
    receiver holds ``DEVX_STREAM_WINDOW`` unread items), so they cannot overrun.
    Defined so programs that catch it run unchanged."""


class ActorExited(RuntimeErrorBase):
    """A child actor process died on its own (signal, ``os._exit``, crash of the
    interpreter) rather than by finishing its work or being cancelled. ``exit_code``
    is ``None`` when it is not known (the message says why)."""

    def __init__(self, msg: str, *, name: str, uid: ActorID, pid: int, exit_code: int | None):
        super().__init__(msg)
        self.name = name
        self.uid = uid
        self.pid = pid
        self.exit_code = exit_code


class ActorBootError(RuntimeErrorBase):
    """A child actor failed to start (spawn, connect back or ready in time)."""


def type_name(typ: type) -> str:
    """``module.QualName`` with the parent's main module spelled ``__main__``."""
    mod = typ.__module__
    if mod == "__mp_main__":
        mod = "__main__"
    return f"{mod}.{typ.__qualname__}"


def resolve_type(name: str) -> type[BaseException] | None:
    """The exception class named ``module.QualName`` when it is importable here."""
    mod_name, _, qual = name.rpartition(".")
    if not mod_name:
        return None
    try:
        if mod_name == "__main__":
            mod: Any = sys.modules.get("__mp_main__") or sys.modules["__main__"]
        elif mod_name == "builtins":
            mod = builtins
        else:
            mod = sys.modules.get(mod_name) or importlib.import_module(mod_name)
        obj: Any = mod
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


class RemoteActorError(Exception):
    """An exception raised in another actor.

    ``boxed_type_name`` is always set (``"builtins.ZeroDivisionError"``);
    ``boxed_type`` resolves it to the real class when it can be imported here.
    ``src_uid``/``src_path``/``src_pid`` name the actor where it was raised;
    ``relay_path`` lists the actors it passed through on the way up.
    """

    def __init__(self, info: ErrorInfo):
        self.info = info
        super().__init__(info.message)

    @property
    def boxed_type_name(self) -> str:
        return self.info.type_name

    @property
    def boxed_type(self) -> type[BaseException] | None:
        return resolve_type(self.info.type_name)

    @property
    def src_uid(self) -> ActorID:
        return self.info.src_uid

    @property
    def src_path(self) -> str:
        return self.info.src_path

    @property
    def src_pid(self) -> int:
        return self.info.src_pid

    @property
    def relay_path(self) -> list[str]:
        return self.info.relay_path

    @property
    def tb_str(self) -> str:
        return self.info.traceback

    @property
    def msgdata(self) -> dict[str, Any]:
        """The boxed error's data as a new ``dict`` under the peer project's keys
        (its programs read ``err.msgdata['tb_str']``): ``src_uid``, ``src_type_str``
        and ``boxed_type_str`` (the type's name; one level of boxing, so both are the
        original type), ``relay_path`` (devx's actor paths), ``message``, ``tb_str``,
        ``canceller`` (a ContextCancelled's, else None), and devx's own
        ``src_path``/``src_pid``."""
        info = self.info
        short = info.type_name.rpartition(".")[2]
        return {
            "src_uid": info.src_uid,
            "src_type_str": short,
            "boxed_type_str": short,
            "relay_path": list(info.relay_path),
            "message": info.message,
            "tb_str": info.traceback,
            "canceller": info.canceller,
            "src_path": info.src_path,
            "src_pid": info.src_pid,
        }

    def __str__(self) -> str:
        info = self.info
        short = info.type_name.removeprefix("builtins.")
        head = f"{short}: {info.message}" if info.message else short
        via = f" via {' <- '.join(reversed(info.relay_path))}" if info.relay_path else ""
        lines = [
            f"{head}",
            f" from actor {info.src_path!r} ({info.src_uid}, pid {info.src_pid}){via}",
        ]
        tb = info.traceback.rstrip("\n").splitlines()
        if tb:
            width = max(len(line) for line in tb)
            width = min(max(width, 20), 120)
            lines.append(" ┌─ remote traceback " + "─" * max(width - 19, 1))
            lines.extend(f" │ {line}" for line in tb)
            lines.append(" └" + "─" * (width + 2))
        return "\n".join(lines)

    def __reduce__(self) -> Any:
        return (type(self), (self.info,))


class ContextCancelled(RemoteActorError):
    """The remote task was cancelled (its actor was cancelled or shut down).
    ``canceller``: the :class:`ActorID` of the actor that asked for it (None when
    not known), a value like ``current_actor().uid``, so the peer project's
    ``ctxc.canceller == current_actor().uid`` holds; its ``str()`` is
    ``"name@uuid8"``."""

    @property
    def canceller(self) -> ActorID | None:
        return self.info.canceller


# a boxed error's message and traceback text are each cut to this many characters:
# an error must always fit a frame (an actor whose error reply cannot be sent would
# have nothing left to say), and nobody reads megabytes of one
MAX_ERROR_TEXT = 1024 * 1024


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder naming its type when its ``__str__`` raises (or
    returns something else than a string): no exception kills the actor that boxes,
    logs or records it."""
    try:
        return str(exc)
    except Exception as err:
        return f"<{type_name(type(exc))}: its __str__ raised {type(err).__name__}>"


def truncated(text: str, what: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying so (and how much there was)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[{what} truncated: {len(text)} characters, the first {limit} kept]"


def box_error(exc: BaseException, *, uid: ActorID, path: str, pid: int) -> ErrorInfo:
    """Box ``exc`` for the wire. A relayed ``RemoteActorError`` keeps its origin and
    gets this actor appended to its relay path. Its text is bounded
    (:data:`MAX_ERROR_TEXT`) and never raises (:func:`safe_str`)."""
    if has_user_quit(exc):
        # the user quit a REPL (`q`, ctrl-d): a decision, not a crash; nothing of
        # pdb's machinery is worth showing. It wins over errors raised with it (a
        # group), which travel along as one line each
        first = first_quit(exc)
        errors = errors_before(exc, path)
        if isinstance(first, (RemoteActorError, RemoteQuit)):
            return msgspec.structs.replace(
                first.info, relay_path=[*first.info.relay_path, path], errors_before=errors
            )
        return ErrorInfo(
            type_name=_BDB_QUIT,
            message=safe_str(first) if isinstance(first, UserQuit) else quit_message(path),
            traceback="",
            src_uid=uid,
            src_path=first.path if isinstance(first, UserQuit) else path,
            src_pid=pid,
            errors_before=errors,
        )
    if isinstance(exc, RemoteActorError):
        info = exc.info
        if info.src_uid == uid and not info.relay_path:
            return info  # raised here (a callee that cancelled itself): not relayed
        return msgspec.structs.replace(info, relay_path=[*info.relay_path, path])
    return ErrorInfo(
        type_name=type_name(type(exc)),
        message=truncated(safe_str(exc), "message"),
        traceback=truncated(_format_tb(exc), "traceback"),
        src_uid=uid,
        src_path=path,
        src_pid=pid,
    )


def _format_tb(exc: BaseException) -> str:
    try:
        return tb_text.format_exception(exc, _user_tb(exc.__traceback__))
    except Exception as err:  # the traceback module guards str(); be safe anyway
        return f"<traceback of {type_name(type(exc))} unavailable: {type(err).__name__}>"


def quit_message(path: str) -> str:
    return f"quit from the REPL in actor {path!r}"


class UserQuit(bdb.BdbQuit):
    """The user quit a REPL (``q``, ctrl-d) in actor ``path`` while errors were on
    their way up (a crash REPL quit, or a crash that waited for the terminal behind
    the quit): ``errors`` says one line per error, for the quit report. A
    ``bdb.BdbQuit``, so everything that treats a quit as a quit still does."""

    def __init__(self, path: str, errors: list[str] | None = None):
        super().__init__(quit_message(path))
        self.path = path
        self.errors = list(errors or [])

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.errors))


class RemoteQuit(UserQuit):
    """A user's quit that arrived from another actor (its REPL's ``q``/ctrl-d, or a
    quit relayed by an actor in between): raised where a boxed error would be, but
    no :class:`RemoteActorError`, so a supervisor's ``except RemoteActorError`` (a
    worker that failed: log, restart) does not take the quit for a failure and go
    on; it ends the tree as the user asked. ``info``: the boxed quit (who quit, the
    relay path, the tree's errors), as a ``RemoteActorError``'s."""

    def __init__(self, info: ErrorInfo):
        super().__init__(info.src_path, list(info.errors_before))
        self.info = info

    @property
    def boxed_type_name(self) -> str:
        return self.info.type_name

    @property
    def src_path(self) -> str:
        return self.info.src_path

    def __str__(self) -> str:
        return self.info.message or quit_message(self.info.src_path)

    def __reduce__(self) -> Any:
        return (type(self), (self.info,))


class QuitInAnotherTree(Exception):
    """What the caller of a call gets when the actor serving it belongs to another
    tree and its user quit the REPL the call stopped at (``q``, ctrl-d): that tree
    ends, as a quit ends the tree it is typed in; for the caller the call failed (an
    error its code or supervisor handles), not a quit of its own tree, whose user
    typed nothing."""

    @classmethod
    def of(cls, path: str, root: object) -> QuitInAnotherTree:
        return cls(
            f"the user quit the REPL in actor {path!r} that served this call; that "
            f"actor's tree (root {root}) ends, this call failed"
        )


def _is_quit_leaf(exc: BaseException) -> bool:
    if isinstance(exc, RemoteActorError):
        return exc.boxed_type_name == _BDB_QUIT
    return isinstance(exc, bdb.BdbQuit)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def is_user_quit(exc: BaseException) -> bool:
    """``exc`` is the user quitting a REPL somewhere in the tree (``bdb.BdbQuit``,
    boxed or not, or a group of only those)."""
    return all(_is_quit_leaf(e) for e in _leaves(exc))


def has_user_quit(exc: BaseException) -> bool:
    """A user's quit is among ``exc``'s leaves: the tree ends quietly (no crash REPL
    anywhere), reporting the other leaves as the tree's errors."""
    return any(_is_quit_leaf(e) for e in _leaves(exc))


def first_quit(exc: BaseException) -> BaseException:
    return next(e for e in _leaves(exc) if _is_quit_leaf(e))


def errors_before(exc: BaseException, path: str) -> list[str]:
    """One line per error in ``exc`` (a quit's own list, boxed or not, included;
    cancellations left out), without repeats; ``path``: the actor where the local
    ones were raised."""
    import trio

    lines: list[str] = []
    for leaf in _leaves(exc):
        if isinstance(leaf, UserQuit):
            lines.extend(leaf.errors)
        elif isinstance(leaf, RemoteActorError):
            if _is_quit_leaf(leaf):
                lines.extend(leaf.info.errors_before)
            elif not isinstance(leaf, ContextCancelled):
                lines.append(_one_line(leaf.boxed_type_name, leaf.src_path, leaf.info.message))
        elif not isinstance(leaf, (bdb.BdbQuit, trio.Cancelled, GeneratorExit)):
            lines.append(_one_line(type_name(type(leaf)), path, str(leaf)))
    return list(dict.fromkeys(lines))


def _one_line(typ: str, path: str, message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    if len(first) > 100:
        first = first[:99] + "…"
    short = typ.removeprefix("builtins.").removeprefix("devx.")
    return f"{short} in actor {path!r}" + (f": {first}" if first else "")


def as_user_quit(exc: BaseException, path: str) -> UserQuit:
    """``exc`` (holding a user's quit) as one :class:`UserQuit` naming the actor
    where the user quit and carrying every other error; ``path``: this actor."""
    first = first_quit(exc)
    if isinstance(first, RemoteActorError):
        where = first.src_path
    else:
        where = first.path if isinstance(first, UserQuit) else path
    return UserQuit(where, errors_before(exc, path))


def quit_report(exc: BaseException, root_path: str) -> str:
    """The one line a user's quit ends the program with: who quit, and each other
    error the tree had (before or after the quit)."""
    first = first_quit(exc)
    if isinstance(first, RemoteActorError):
        head = first.info.message or quit_message(first.src_path)
    elif isinstance(first, UserQuit):
        head = str(first)
    else:
        head = quit_message(root_path)
    errors = errors_before(exc, root_path)
    if not errors:
        return head
    # not "before the quit": an error may come after it (code that ran on once the
    # quit ended its task), and the root cannot tell the order; nor "other": the one
    # a crash REPL was opened for is among them
    label = "error" if len(errors) == 1 else f"{len(errors)} errors"
    return f"{head}; the tree's {label}: " + "; ".join(errors)


_BDB_QUIT = "bdb.BdbQuit"


def _user_tb(tb: TracebackType | None) -> TracebackType | None:
    """Drop the runtime's own leading frames (the RPC dispatch) from a traceback."""
    while tb is not None and tb.tb_next is not None:
        if not tb.tb_frame.f_globals.get("__name__", "").startswith("devx.runtime"):
            break
        tb = tb.tb_next
    return tb


def unbox_error(info: ErrorInfo) -> Any:
    """The local exception for a boxed error that arrived from another actor: a
    :class:`RemoteActorError` (a :class:`ContextCancelled`), or a :class:`RemoteQuit`
    for a user's quit; it is recorded (telemetry) here, where it arrives, as well as
    where it was raised."""
    from ..core import events

    err: BaseException
    if info.type_name == _BDB_QUIT:
        err = RemoteQuit(info)
    elif info.type_name == type_name(ContextCancelled):
        err = ContextCancelled(info)
    else:
        err = RemoteActorError(info)
    events.exception(err)  # its devx.remote.* attributes say where it came from
    return err


def collapse(exc: BaseException) -> BaseException:
    """Unwrap groups of one (trio wraps even a single error in an ExceptionGroup),
    down to a lone exception or the first group that really holds several."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def strip_cancelled(exc: BaseException) -> BaseException | None:
    """``exc`` without its ``trio.Cancelled`` leaves (None when nothing else is left),
    collapsed: what a task really failed with while it was also being cancelled."""
    import trio

    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        return None if rest is None else collapse(rest)
    return None if isinstance(exc, trio.Cancelled) else exc


def one_cancelled(exc: BaseException) -> BaseException:
    """A group whose leaves are all ``trio.Cancelled`` (a cancelled task's nurseries
    wrap each of their tasks' one): its first leaf, what trio code expects a cancelled
    call to raise (``except trio.Cancelled`` catches it; a group it misses). Anything
    else as it is."""
    import trio

    leaf = exc
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    if leaf is not exc and isinstance(leaf, trio.Cancelled) and strip_cancelled(exc) is None:
        return leaf
    return exc


# public names: these print, and box across actors, as ``devx.RemoteActorError``, not
# ``devx.runtime.errors.RemoteActorError`` (the ``devx`` package re-exports each one)
for _cls in (
    ActorBootError,
    ActorExited,
    ChannelClosed,
    ContextCancelled,
    ContextError,
    FunctionNotFound,
    IPCEncodeError,
    ModuleNotEnabled,
    MsgTypeError,
    NoRuntime,
    RemoteActorError,
    StreamClosed,
    StreamOverrun,
):
    _cls.__module__ = "devx"
del _cls
