"""Crash handlers for sync entry points: a post-mortem pdbp REPL on an uncaught
exception in a CLI's ``main()``, before (or without) ``trio.run()``.

Sync context managers, so they wrap the code that runs before the runtime exists
(argument parsing, config loading) as well as the ``trio.run()`` call itself. The
REPL opens at the raising frame. Inside a running actor the tree's TTY lock is taken
the way :func:`devx.pause_from_sync` takes it; with no runtime a process-local lock
keeps threads' REPLs apart. Crashes and REPLs are recorded through the same
telemetry events as the async paths (``exception``/``devx.crash``, ``devx.repl``).
"""

from __future__ import annotations

import bdb
import inspect
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any

import trio

from ..core import events, hooks, schema, settings
from ..runtime.actor import current_actor
from .post_mortem import _last_frame, show_and_interact, user_tb
from .session import Session
from .sync import BareSession, open_sync_session
from .waiters import code_location

__tracebackhide__ = True


ReplFixture = AbstractContextManager[Any] | Callable[..., AbstractContextManager[Any]]


class BoxedMaybeException:
    """What ``with open_crash_handler() as box`` binds: ``box.value`` is the
    exception the block raised (caught, ignored or swallowed alike), else ``None``."""

    def __init__(self, raise_on_exit: bool | Sequence[type[BaseException]] = True):
        self.value: BaseException | None = None
        self.raise_on_exit = raise_on_exit

    def __repr__(self) -> str:
        return f"<BoxedMaybeException value={self.value!r}>"


class CrashHandler(AbstractContextManager[BoxedMaybeException]):
    """See :func:`open_crash_handler`. A class (not a generator) so the traceback the
    REPL walks starts at the ``with`` block, without a context-manager frame."""

    def __init__(
        self,
        catch: Collection[type[BaseException]],
        ignore: Collection[type[BaseException]],
        hide_tb: bool,
        repl_fixture: ReplFixture | None,
        raise_on_exit: bool | Sequence[type[BaseException]],
    ):
        self.catch = tuple(catch)
        self.ignore = tuple(ignore)
        self.hide_tb = hide_tb
        self.repl_fixture = repl_fixture
        self.raise_on_exit = raise_on_exit
        self.box = BoxedMaybeException(raise_on_exit)

    def __enter__(self) -> BoxedMaybeException:
        # a bad DEVX_* value is refused here, before the block runs, as a root refuses
        # it at open: not in the middle of the crash this handler is for (the REPL's
        # attach check raised it chained to the user's error, telemetry went off)
        settings.current()
        return self.box

    def __exit__(
        self,
        etype: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        __tracebackhide__ = self.hide_tb
        if exc is None or not isinstance(exc, self.catch):
            return False
        self.box.value = exc
        if _passes_through(exc, self.ignore):
            return False  # untouched: no REPL, re-raised as is
        crash_repl_sync(exc, tb, repl_fixture=self.repl_fixture, box=self.box)
        return not _reraise(exc, self.raise_on_exit)


def open_crash_handler(
    catch: Collection[type[BaseException]] = frozenset({BaseException}),
    ignore: Collection[type[BaseException]] = frozenset({KeyboardInterrupt, trio.Cancelled}),
    hide_tb: bool = True,
    repl_fixture: ReplFixture | None = None,
    raise_on_exit: bool | Sequence[type[BaseException]] = True,
) -> CrashHandler:
    """A post-mortem pdbp REPL on any uncaught exception of the block, for sync code
    before or without ``trio.run()`` (a CLI's ``main()``)::

        with devx.debug.open_crash_handler():
            main()

    An exception that is an instance of ``catch`` and not of ``ignore`` opens the
    REPL at the raising frame; ``ignore`` types (also exception groups made only of
    them), ``bdb.BdbQuit`` and clean exits (``SystemExit(0)``, click's ``Exit(0)``)
    pass through untouched. After the REPL the exception is re-raised when
    ``raise_on_exit`` is true, or is one of its types when it is a sequence; else
    swallowed. ``repl_fixture`` is a context manager (or a factory of one) entered
    around the REPL: when it yields a false value other than ``None``, the REPL is
    skipped. A factory is called as the peer project calls its fixture,
    ``repl_fixture(repl=<the PdbREPL about to run>, maybe_bxerr=<the box>)``, with
    those of the two keywords its signature takes (none: called bare).
    ``as box`` binds a :class:`BoxedMaybeException`.
    """
    return CrashHandler(catch, ignore, hide_tb, repl_fixture, raise_on_exit)


def maybe_open_crash_handler(
    pdb: bool | None = None,
    hide_tb: bool = True,
    **kwargs: Any,
) -> AbstractContextManager[BoxedMaybeException]:
    """:func:`open_crash_handler` when ``pdb`` is true or the ``DEVX_PDB`` environment
    variable says so (``1``/``true``/``yes``/``on``), a no-op otherwise. A falsy
    ``pdb`` (``None``, or the ``False`` of an argparse ``store_true`` flag not given)
    leaves it to ``DEVX_PDB``, so a CLI's ``--pdb`` flag is one line that the
    variable also turns on: ``with maybe_open_crash_handler(pdb=args.pdb):``."""
    if not pdb:
        pdb = settings.current().pdb
    if not pdb:
        return nullcontext(BoxedMaybeException(kwargs.get("raise_on_exit", True)))
    return open_crash_handler(hide_tb=hide_tb, **kwargs)


def crash_repl_sync(
    exc: BaseException,
    tb: TracebackType | None,
    *,
    repl_fixture: ReplFixture | None = None,
    box: BoxedMaybeException | None = None,
) -> None:
    """The synchronous twin of :func:`devx.debug.post_mortem.crash_repl`: record
    the crash, take the lock, show the error and open the REPL at the raising frame."""
    tb = user_tb(tb if tb is not None else exc.__traceback__)
    actor = current_actor(err_on_no_runtime=False)
    if actor is not None:
        _crash_repl(exc, tb, actor.lineage_attrs(), repl_fixture, box)
        return
    # no runtime: the process is a one-actor tree of its own for telemetry
    telemetry = hooks.process_telemetry()
    try:
        _crash_repl(exc, tb, telemetry.lineage_attrs(), repl_fixture, box)
    finally:
        telemetry.close(outcome="crashed")


def _crash_repl(
    exc: BaseException,
    tb: TracebackType | None,
    attrs: dict[str, Any],
    repl_fixture: ReplFixture | None,
    box: BoxedMaybeException | None,
) -> None:
    events.exception(exc, handler="open_crash_handler", **attrs)
    repl: Any = None
    if repl_fixture is not None and "repl" in _fixture_keywords(repl_fixture):
        from .repl import mk_pdb

        repl = mk_pdb()  # the fixture gets the very REPL that runs
    with _fixture(repl_fixture, repl=repl, maybe_bxerr=box) as go:
        if go is not None and not go:
            return
        session = _open_session(tb)
        if session is None:
            return
        try:
            show_and_interact(session, exc, tb, no_repl="no REPL", repl=repl)
        finally:
            session.release()


def _open_session(tb: TracebackType | None) -> Session | BareSession | None:
    """The tree's TTY lock when the caller can take it without blocking the actor's
    loop; else (no runtime, no debug mode, a trio task without a greenback portal:
    the loop is stuck behind this crash anyway) a process-local session. ``None``
    when the wait for the lock was cancelled: no REPL then."""
    try:
        return open_sync_session(
            "open_crash_handler",
            reason=schema.HOLD_CRASH,
            allow_no_runtime=True,
            location=code_location(_last_frame(tb)),
        )
    except trio.Cancelled:
        return None
    except RuntimeError:  # GreenbackNotEnabled, no debug mode, the actor just exited
        return BareSession(schema.HOLD_CRASH)


def _fixture_keywords(fixture: ReplFixture) -> set[str]:
    """Which of the peer's two keywords (``repl``, ``maybe_bxerr``) a fixture factory
    takes: those it names, both when it takes ``**kwargs``, none for a context
    manager given as is or a callable whose signature cannot be read."""
    if hasattr(fixture, "__enter__"):
        return set()
    try:
        params = inspect.signature(fixture).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {"repl", "maybe_bxerr"}
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named & {"repl", "maybe_bxerr"}


@contextmanager
def _fixture(fixture: ReplFixture | None, **offered: Any) -> Iterator[Any]:
    if fixture is None:
        yield None
        return
    if hasattr(fixture, "__enter__"):
        cm = fixture
    else:
        wanted = _fixture_keywords(fixture)
        cm = fixture(**{k: v for k, v in offered.items() if k in wanted})
    with cm as go:  # type: ignore[union-attr]
        yield go


def _passes_through(exc: BaseException, ignore: tuple[type[BaseException], ...]) -> bool:
    """Not a crash to debug: an ignored type (or a group of only those), the user
    quitting a REPL, or a clean exit."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_passes_through(e, ignore) for e in exc.exceptions)
    if isinstance(exc, (bdb.BdbQuit, GeneratorExit, *ignore)):
        return True
    if isinstance(exc, SystemExit):
        return exc.code in (None, 0)
    # click's (and so typer's) Exit(0), raised for --help and ctx.exit()
    return type(exc).__name__ == "Exit" and getattr(exc, "exit_code", None) == 0


def _reraise(exc: BaseException, raise_on_exit: bool | Sequence[type[BaseException]]) -> bool:
    if isinstance(raise_on_exit, bool):
        return raise_on_exit
    return isinstance(exc, tuple(raise_on_exit))
