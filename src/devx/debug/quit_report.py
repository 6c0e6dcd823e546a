"""A user's ``q`` (or ctrl-d) at a REPL ends the program with one line saying so,
not with a traceback through pdb's and devx's machinery. The REPL's task still gets
``bdb.BdbQuit`` as in pdb (on its way up the tree a quit too, a ``RemoteQuit``, not
a ``RemoteActorError``, and no parent opens a REPL on it); only the interpreter's
report of it, if nothing caught it, changes. Installed once per root process and left in place: the
exception escapes after the runtime is gone. Anything else goes to the previous
``sys.excepthook``."""

from __future__ import annotations

import sys
from types import TracebackType

from ..runtime.errors import is_user_quit, quit_report
from ..runtime.interrupt import ignore_late_sigint

_installed = False
_root_path = "root"


def install(root_path: str) -> None:
    global _installed, _root_path
    _root_path = root_path
    if _installed:
        return
    _installed = True
    previous = sys.excepthook

    def excepthook(typ: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        ignore_late_sigint(typ)  # first thing (see there)
        if exc is not None and is_user_quit(exc):
            try:
                sys.stderr.write(f"devx: {describe(exc)}\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            return
        previous(typ, exc, tb)

    sys.excepthook = excepthook


_thread_hook = False


def install_thread_hook(actor_path: str) -> None:
    """A user's ``q`` in a thread's REPL (``pause_from_sync`` in a plain thread) ends
    that thread with ``bdb.BdbQuit``, as pdb does; it is said in one line, not with
    threading's traceback through bdb's and devx's frames. Once per process."""
    global _thread_hook
    if _thread_hook:
        return
    _thread_hook = True
    import threading

    previous = threading.excepthook

    def excepthook(args: threading.ExceptHookArgs) -> None:
        exc = args.exc_value
        if exc is not None and is_user_quit(exc):
            name = args.thread.name if args.thread is not None else "?"
            try:
                sys.stderr.write(
                    f"devx: quit from the REPL in thread {name!r} of actor {actor_path!r}: "
                    "the thread ended there\n"
                )
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            return
        previous(args)

    threading.excepthook = excepthook


def describe(exc: BaseException) -> str:
    return quit_report(exc, _root_path)
