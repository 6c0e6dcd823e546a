"""PdbREPL: the project's ``pdbp.Pdb`` subclass, and :func:`mk_pdb`.

Differences from a bare pdbp: no sticky full-screen mode (prompts from several
actors must read as a log, not repaint the screen), frames marked
``__tracebackhide__`` hidden (and so are the trio, outcome and greenback frames a
sync pause sits under: a worker thread's job runner, a greenback portal's shim),
pdb's own SIGINT handler never installed (the debug layer's trio-safe handler
decides what ctrl-c does), colours off under ``NO_COLOR``, and a callback when the
user leaves the REPL (continue or quit) so the TTY lock is released right then.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

__tracebackhide__ = True


_class_lock = threading.Lock()


def _pdbrepl_class() -> type:
    with _class_lock:  # one class, also when the warm-up thread builds it
        return _build_pdbrepl_class()


@cache
def _build_pdbrepl_class() -> type:
    import pdbp  # lazy: ~40 ms, paid only when a REPL opens

    std_pdb = pdbp.Pdb.__bases__[0]  # pdbp rebinds pdb.Pdb to itself: take its base

    plain = bool(os.environ.get("NO_COLOR"))

    class DevxConfig(pdbp.DefaultConfig):  # type: ignore[misc,name-defined]
        sticky_by_default = False
        enable_hidden_frames = True
        show_hidden_frames_count = False
        disable_pytest_capturing = False
        highlight = not plain
        use_pygments = not plain
        truncate_long_lines = False

    class PdbREPL(pdbp.Pdb):  # type: ignore[misc,name-defined]
        """A multi-process-safe pdbp REPL; get one from :func:`mk_pdb`."""

        DefaultConfig = DevxConfig

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("nosigint", True)
            kwargs.setdefault("Config", DevxConfig)
            super().__init__(*args, **kwargs)
            self.on_exit: Callable[[], None] | None = None
            self.live = False  # inside the command loop, reading input

        def do_longlist(self, arg: str) -> Any:
            # pdbp's turns on sticky mode, which repaints the whole screen
            return std_pdb.do_longlist(self, arg)

        do_ll = do_longlist

        def _is_hidden(self, frame: Any) -> bool:
            if frame.f_globals.get("__name__", "").startswith(_PLUMBING_MODULES):
                return frame is not getattr(self, "_via_set_trace_frame", None)
            return bool(super()._is_hidden(frame))

        if plain:

            def print_stack_entry(self, frame_lineno: Any, *args: Any, **kwargs: Any) -> None:
                std_pdb.print_stack_entry(self, frame_lineno)

            def print_current_stack_entry(self) -> None:
                std_pdb.print_stack_entry(self, self.stack[self.curindex])

        def _leave(self) -> None:
            cb, self.on_exit = self.on_exit, None
            if cb is not None:
                cb()

        def set_continue(self) -> None:
            super().set_continue()
            self._leave()

        def set_quit(self) -> None:
            super().set_quit()
            self._leave()

        def cmdloop(self, intro: Any = None) -> Any:
            self.live = True
            try:
                return super().cmdloop(intro)
            finally:
                self.live = False

    return PdbREPL


# plumbing under a sync pause's frames (trio's own run loop frames already carry
# __tracebackhide__); display only: pdbp's `hf_unhide` still shows them
_PLUMBING_MODULES = ("trio.", "outcome.", "greenback.")


def warm_up(delay: float = 0.2) -> Callable[[], None]:
    """Import pdbp (~40 ms) on a helper thread ``delay`` s from now, so that a debug-mode
    actor's first pause does not pay for it while the user waits for the prompt.
    Returns a function that calls it off (an actor that exits first)."""
    from ..runtime.threads import start_thread

    stop = threading.Event()

    def run() -> None:
        if stop.wait(delay):
            return
        try:
            _pdbrepl_class()
        except BaseException:  # e.g. the interpreter is shutting down: the REPL retries
            pass

    start_thread(run, "devx-repl-warm-up")
    return stop.set


def mk_pdb() -> Any:
    """A new :class:`PdbREPL` (a ``pdbp.Pdb`` subclass), safe to use in devx actors:
    prefer it to a bare ``pdb``/``pdbp`` ``set_trace()`` inside the trio runtime."""
    return _pdbrepl_class()()


def __getattr__(name: str) -> Any:
    if name == "PdbREPL":
        return _pdbrepl_class()
    raise AttributeError(name)
