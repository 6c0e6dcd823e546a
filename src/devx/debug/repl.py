"""PdbREPL: the project's ``pdbp.Pdb`` subclass, and :func:`mk_pdb`.

Differences from a bare pdbp: no sticky full-screen mode (prompts from several
actors must read as a log, not repaint the screen); pdb's own SIGINT handler never
installed (the debug layer's trio-safe handler decides what ctrl-c does); colours
off under ``NO_COLOR``; a callback when the user leaves the REPL (continue, quit)
so the TTY lock is released right then. And stepping that fits a trio tree:

- a pause stops at the pause call's own line on every Python (3.11/3.12's
  ``set_trace`` would stop at the next line, 3.13's at the next instruction);
- devx, trio and other plumbing frames (:mod:`devx.debug.frames`) are never a stop
  and are hidden from ``w``/``u``/``d``; neither are library frames plumbing calls,
  so ``s`` on a call into devx (a remote call: ``portal.run``, ``open_context``)
  steps over it;
- a context manager's ``yield`` goes back into the body of the user's ``with``/
  ``async with`` (contextlib is never a stop, but stepping goes through it);
- stops happen only in the task that owns the REPL (``s`` over an ``await`` never
  lands in another task);
- ``n``/``r``/``until`` past a coroutine's end stop at its caller's next line (bdb
  ignores that return);
- when the outermost frame of the user's code under the pause returns, the REPL
  ends as with ``c``, saying so in one line (:meth:`PdbREPL.step_out`).

Commands of its own: ``waiters`` (who holds the terminal, who waits) and ``switch``
(give the terminal to a waiter now, :mod:`devx.debug.switch`).
"""

from __future__ import annotations

import bdb
import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import trio

from . import door, frames, pdb_habits, terminal
from .lock_protocol import ReleaseHow

__tracebackhide__ = True


_class_lock = threading.Lock()


def _pdbrepl_class() -> type:
    with _class_lock:  # one class, also when the warm-up thread builds it
        return _build_pdbrepl_class()


# one-letter commands people type, and their long names (see PdbREPL.parseline)
_SHADOWED = {
    "c": "continue",
    "n": "next",
    "s": "step",
    "r": "return",
    "q": "quit",
    "u": "up",
    "d": "down",
    "w": "where",
    "l": "list",
    "a": "args",
    "b": "break",
    "j": "jump",
    "h": "help",
}


@cache
def _build_pdbrepl_class() -> type:
    import pdbp  # lazy: ~40 ms, paid only when a REPL opens

    std_pdb = pdbp.Pdb.__bases__[0]  # pdbp rebinds pdb.Pdb to itself: take its base

    plain = bool(os.environ.get("NO_COLOR"))

    class DevxConfig(pdbp.DefaultConfig):  # type: ignore[misc]
        sticky_by_default = False
        enable_hidden_frames = True
        show_hidden_frames_count = False
        disable_pytest_capturing = False
        highlight = not plain
        use_pygments = not plain
        truncate_long_lines = False

    class PdbREPL(pdbp.Pdb):  # type: ignore[misc]
        """A multi-process-safe pdbp REPL; get one from :func:`mk_pdb`."""

        DefaultConfig = DevxConfig
        _devx_repl = True  # devx's own: the habitual ways into pdb pass it through

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("nosigint", True)
            kwargs.setdefault("Config", DevxConfig)
            super().__init__(*args, **kwargs)
            # called once when the user leaves the REPL, with how (ReleaseHow)
            self.on_exit: Callable[[ReleaseHow], None] | None = None
            self.live = False  # inside the command loop, reading input
            # waiting for the user's next line (not running a command): what a
            # thread REPL's ctrl-c redraws the prompt for (see sigint)
            self.reading = False
            # stops only in this trio task (None: any; a thread's REPL is per thread)
            self.owner_task: Any = None
            self.where = ""  # who is in the REPL, for the step-out line
            self.user_root: Any = None  # see set_trace
            # the session this REPL stops under (door.take_turn opens one for a stop
            # that has none), and the thread whose stops are its own
            self.session: Any = None
            self.owner_thread: int | None = None
            # since when a step runs: a command left the prompt with the session
            # live (None: at the prompt, or no step under way)
            self.stepping_since: float | None = None
            self.breaks = door.breaks  # breakpoints are per process, not per REPL
            self._unsaid = ""  # pdb's words about a stop, kept until its turn comes
            self._bp_commands: list[str] = []  # a breakpoint's `commands`, for its turn
            self._shadow_said: set[str] = set()  # see parseline
            self._prompting = False  # see _stop_now
            self.switching = False  # `switch` waits for the terminal back (see sigint)
            # the REPL where the user quit, when it is another one (this REPL switched
            # to it): this one's quit is that one's (said so, recorded so)
            self.quit_as = ""
            # bdb's state is set up (reset(): by set_trace or a post-mortem); until
            # then the door's trace function hands this REPL no frame (see door.hub)
            self.ready = False

        def reset(self) -> None:
            super().reset()
            self.ready = True

        def do_longlist(self, arg: str) -> Any:
            # pdbp's turns on sticky mode, which repaints the whole screen
            return std_pdb.do_longlist(self, arg)

        do_ll = do_longlist

        def do_debug(self, arg: str) -> None:
            """debug code
            Not in a devx REPL: pdb's recursive debugger would stop outside this
            REPL's turn at the terminal. Step into the call with `s`, or set `b` in
            it and `c`; `p`/`!` evaluate without stopping."""
            # (its stops went through the door as a second turn, its first `n` left
            # it, and this REPL then lost its stepping with its hold never released)
            self.error(
                "debug: the recursive debugger is not available in a devx REPL; step into "
                "the call with `s`, or set `b` in it and `c` (`p`/`!` run it without stopping)"
            )

        def do_run(self, arg: str) -> None:
            """run [args...], restart [args...]
            Not in a devx REPL: pdb restarts a program it runs itself (`python -m
            pdb`); here the program is a tree of processes. `q` ends it, then run
            it again."""
            # (pdbp raised its Restart from the command loop, through the trace
            # function into the paused code: a crash of the actor, on pdb's frames)
            self.error(
                "restart: not available in a devx REPL (the program is a tree of "
                "processes); `q` ends it, then run it again"
            )

        do_restart = do_run

        def do_waiters(self, arg: str) -> None:
            """waiters
            Who holds the tree's terminal and who waits for it: tree path, why,
            file:line, for how long, in the order they will be served."""
            import msgspec

            from .waiters import code_location, state_lines

            mine = self.session.hold_id if self.in_own_session() else 0
            state = live_lock_state(mine)
            if mine and state.hold_id == mine and state.holder is not None:
                # this REPL holds it: where it stands now, not where it first stopped
                here = code_location(self.curframe)
                if here:
                    holder = msgspec.structs.replace(state.holder, where=here)
                    state = msgspec.structs.replace(state, holder=holder)
            for line in state_lines(state):
                self.message(line)

        def do_switch(self, arg: str) -> bool:
            """switch N|PATH
            Give the terminal to a waiting REPL now (N: its number in `waiters`;
            PATH: its tree path). This REPL stays stopped at its line and is next in
            line: the terminal comes back here when that REPL is done."""
            from .switch import switch

            # not pdb's repeat on an empty line: an Enter back from the switch
            # would give the terminal away again, to whoever is first in line now
            self.lastcmd = ""
            return switch(self, arg)

        def _is_hidden(self, frame: Any) -> bool:
            if frames.is_plumbing(frame):
                return frame is not getattr(self, "_via_set_trace_frame", None)
            return bool(super()._is_hidden(frame))

        if plain:

            def print_stack_entry(self, frame_lineno: Any, *args: Any, **kwargs: Any) -> None:
                std_pdb.print_stack_entry(self, frame_lineno)

            def print_current_stack_entry(self) -> None:
                std_pdb.print_stack_entry(self, self.stack[self.curindex])

        # --- where stepping may stop ------------------------------------------------

        def is_owner(self) -> bool:
            """The running task (or thread) is the one this REPL stops in."""
            return (self.owner_task is None or current_task() is self.owner_task) and (
                self.owner_thread is None or threading.get_ident() == self.owner_thread
            )

        def _stepping_here(self) -> bool:
            """A live session's trace, in the task (or thread) that owns it."""
            return self.on_exit is not None and self.is_owner()

        def in_own_session(self) -> bool:
            """A stop here is inside a session of this task/thread holding the lock."""
            s = self.session
            return s is not None and not s._done and self.is_owner()

        def interaction(self, frame: Any, tb: Any) -> Any:
            if self._escaped():
                return None
            if frame is None and self.session is None and pdb_habits.active():
                # a post-mortem of a REPL the user made (mk_pdb().interaction(None,
                # tb)) in a debug-mode actor: through the door as pdb.post_mortem()
                return pdb_habits.post_mortem(tb, api="mk_pdb().interaction")
            # the one door: a stop outside a session of the running task or thread
            # (another task's breakpoint, a step whose session gave the terminal up)
            # waits for the terminal as a pause does, with its own banner
            if not self.in_own_session():
                target = door.take_turn(self, frame, tb)
                unsaid, self._unsaid = self._unsaid, ""
                queued, self._bp_commands = self._bp_commands, []
                if target is None:
                    if self.session is not None and self.is_owner():
                        self.set_continue()  # its own step could not wait: it ends
                    return None
                if unsaid:
                    target.message(unsaid.rstrip("\n"))
                target.cmdqueue.extend(queued)  # (run as the prompt's first lines)
                if target is not self:
                    return target.interaction(frame, tb)
            return super().interaction(frame, tb)

        def bp_commands(self, frame: Any) -> Any:
            bp = getattr(self, "currentbp", 0)
            if self.in_own_session() or not bp or bp not in self.commands:
                return super().bp_commands(frame)
            # a breakpoint with `commands` hit outside this REPL's session (after `c`,
            # or in another task): pdb ran them and prompted right here, with no turn
            # at the terminal (no banner, nobody holding it in `devx ps`: another
            # actor's REPL could prompt at the same time) (trial10). They run once the
            # stop has its turn, as the first lines of its prompt (a resuming command
            # among them, `c`, leaves it with no prompt, as in pdb)
            self.currentbp = 0
            self._bp_commands = list(self.commands[bp])
            return 1

        def do_clear(self, arg: str) -> Any:
            if self.in_own_session():
                return super().do_clear(arg)
            # bdb clears a tbreak as it is hit, before the stop has the terminal:
            # say it once the stop's turn comes, not under another actor's prompt
            out: Any = getattr(self, "stdout")  # noqa: B009  (pdb sets it untyped)
            kept = io.StringIO()
            self.stdout = kept
            try:
                return super().do_clear(arg)
            finally:
                self._unsaid += kept.getvalue()
                self.stdout = out

        def compute_stack(self, fullstack: Any, idx: Any = None) -> Any:
            # pdbp took every hidden frame off the index, those past it too: a stop on
            # an exception raised in devx's or trio's code under the user's frame (`n`
            # over a remote call that fails) stood on the wrong frame, or none, and the
            # actor crashed on pdb's IndexError (trial10). The stop is the last shown
            # frame at or before the index, as pdbp's count gives with none past it
            if idx is None:
                idx = len(fullstack) - 1
            if self.show_hidden_frames:
                return fullstack, idx
            self._hidden_frames = []
            shown: list[Any] = []
            at = 0
            for i, (frame, lineno) in enumerate(fullstack):
                if self._is_hidden(frame):
                    self._hidden_frames.append((frame, lineno))
                    continue
                if i <= idx:
                    at = len(shown)
                shown.append((frame, lineno))
            return shown, at

        def default(self, line: str) -> Any:
            # `exit()`/`quit()` typed at the prompt: 3.13's pdb runs a command followed
            # by `(` as Python, so site's exit closed stdin and raised SystemExit, pdb
            # printed it, the REPL's next read failed on the closed file and the actor
            # crashed (trial10). They quit the REPL, as `q` (and 3.11/3.12's `exit`) do
            asked: list[str] = []
            with _exit_and_quit(lambda name: _PromptExit(name, asked)):
                done = super().default(line)
            return self.do_quit("") if asked else done

        def do_interact(self, arg: str) -> Any:
            # `exit()`, `quit()` or any SystemExit in the console ends the console: back
            # at this prompt, as 3.13's pdb does (its console's local exit). pdbp's
            # console let it through, from the trace function into the paused code:
            # pdb stopped on it with no frame to show and the actor crashed on pdb's
            # IndexError (and site's exit() had closed stdin first) (trial10)
            import code

            # (3.13's console has a local_exit of its own, which puts them in only where
            # site did: a Python run without it, `python -S`, would have no exit())
            ns = {**self.curframe.f_globals, **self.curframe_locals}
            try:
                with _exit_and_quit(_ConsoleExit):
                    code.InteractiveConsole(ns).interact("*interactive*")
            except SystemExit:
                sys.stderr.write("now exiting InteractiveConsole...\n")
                sys.stderr.flush()
            return None

        do_interact.__doc__ = std_pdb.do_interact.__doc__

        if hasattr(std_pdb, "do_exceptions"):  # (3.13's pdb; 3.11/3.12 have none)

            def do_exceptions(self, arg: str) -> Any:
                chain = getattr(self, "_chained_exceptions", ())
                with contextlib.suppress(ValueError):
                    number = int(arg)
                    if 0 <= number < len(chain) and not _user_frame_in(chain[number].__traceback__):
                        # (a child's error arriving: its traceback is devx's frames alone,
                        # which pdb would hide all, and stand nowhere: an IndexError)
                        self.error(
                            "that error was raised inside devx (another actor's, arriving "
                            "here): no frame of your code in it to move to"
                        )
                        return None
                return super().do_exceptions(arg)

            do_exceptions.__doc__ = std_pdb.do_exceptions.__doc__

        def trace_dispatch(self, frame: Any, event: str, arg: Any) -> Any:
            if self._prompting:
                return None  # the REPL's own code, at a prompt not in a trace callback
            try:
                local = super().trace_dispatch(frame, event, arg)
            except bdb.BdbQuit as exc:
                if not self.quit_as or type(exc) is not bdb.BdbQuit:
                    raise
                raise self._quit() from None
            moved = frame.f_trace
            # door.take_turn handed this frame to another REPL: keep it there
            if moved is not None and isinstance(getattr(moved, "__self__", None), PdbREPL):
                if moved.__self__ is not self:
                    return moved
            return local

        def clear_all_breaks(self) -> Any:
            out = super().clear_all_breaks()
            door.breaks.clear()  # bdb rebinds its table: keep the process's one
            self.breaks = door.breaks
            return out

        def _would_stop(self, frame: Any) -> bool:
            """bdb's own stop rule (without module skipping)."""
            if frame is self.stopframe:
                if self.stoplineno == -1:
                    return False
                return bool(frame.f_lineno >= self.stoplineno)
            return not self.stopframe

        def _stop_due_at_return(self, frame: Any) -> bool:
            """Whether bdb stops at this return event (it ignores a coroutine's
            return while stepping over it with `n`)."""
            if not (self.stop_here(frame) or frame is self.returnframe):
                return False
            return not (self.stopframe and frames.is_coroutine(frame))

        def stop_here(self, frame: Any) -> bool:
            if not self._would_stop(frame) or not self._users(frame):
                return False  # never stop in devx/trio machinery
            return self.is_owner()

        def _users(self, frame: Any) -> bool:
            """A frame of the user's code: not plumbing, and not a library function
            that plumbing calls (trio's scheduler looking into a WeakSet)."""
            if frames.is_plumbing(frame):
                return False
            if frame is self.stopframe or frame is self.user_root:
                return True
            if self.user_root is not None:
                return frames.runs_under(frame, self.user_root)
            caller = frame.f_back
            return caller is None or not frames.is_plumbing(caller)

        def set_trace(self, frame: Any = None, *, here: bool = False) -> None:
            """Trace ``frame``. ``here``: stop at once, at ``frame``'s current line
            (the pause call); else at the next line (a pause reached while stepping
            re-enters the REPL: ``n`` over it goes on to the next line)."""
            if frame is None:
                frame = sys._getframe().f_back
            if self.session is None and pdb_habits.active():
                # the user's own mk_pdb().set_trace() in a debug-mode actor: as
                # pdb.set_trace(), through the door (a pause binds its REPL first)
                pdb_habits.set_trace(frame, api="mk_pdb().set_trace")
                return
            # the outermost frame of the user's code under the pause: when it is
            # done, stepping is done
            self.user_root = frames.user_root(frame)
            self.owner_thread = threading.get_ident()
            self.quit_as = ""  # (a new stop: none of an earlier switch's)
            door.own(self)
            super().set_trace(frame)
            door.tracing_on()  # the hub routes each task's frames to its own REPL
            self.set_step()  # 3.13's set_trace steps by instruction: the same line
            if here:
                self._stop_now(frame)

        def _stop_now(self, frame: Any) -> None:
            """The prompt at ``frame``'s current line, as bdb's dispatch_line gives it
            for a line event, and as from inside a trace callback: the REPL's own code
            (and what ``p`` evaluates) is not traced."""
            self._prompting = True
            try:
                self.user_line(frame)
            finally:
                self._prompting = False
            if self.quitting:
                raise self._quit()

        def _quit(self) -> bdb.BdbQuit:
            """The quit to raise: the user's own, or the one they typed in the REPL
            this one switched to (:attr:`quit_as`)."""
            from ..runtime.errors import UserQuit

            return UserQuit(self.quit_as) if self.quit_as else bdb.BdbQuit()

        def dispatch_call(self, frame: Any, arg: Any) -> Any:
            if (
                self.stopframe is None  # `s`
                and frames.is_plumbing(frame)
                and not frames.is_transparent(frame)
                and self._stepping_here()
            ):
                caller = frames.through_transparent(frame.f_back)
                if caller is not None and self._users(caller):
                    # `s` on a call into devx/trio (a remote call's portal.run,
                    # open_context...): nothing to stop at in there, and its awaits
                    # would stop at every suspension of the user's coroutines on
                    # the way. Step over it, as `n` on the calling line
                    self._set_stopinfo(caller, None)
            local = super().dispatch_call(frame, arg)
            if local is None and self._users(frame) and self._stepping_here():
                # keep tracing the user's frames (a coroutine resumed after an
                # await is a new call): their returns decide when stepping ends
                return self.trace_dispatch
            return local

        def dispatch_return(self, frame: Any, arg: Any) -> Any:
            if (
                frame in (self.stopframe, self.returnframe)
                and not frames.is_plumbing(frame)
                and not frames.really_returns(frame)
                and frames.suspends_into_with(frame)
                and self._stepping_here()
            ):
                # `n`/`r`/`until` over a context manager's `yield`: bdb ignores a
                # generator's suspension and would stop only once the `with` ends;
                # pdb-like, go on in the body of the user's `with`
                self._set_stopinfo(frames.user_caller(frame.f_back), None)
                return self.trace_dispatch
            if (
                not frames.is_plumbing(frame)
                and frames.really_returns(frame)
                and self._stepping_here()
            ):
                if frame is self.user_root:
                    # the outermost frame of the user's code is done: stepping
                    # would go on in devx or trio, which is never a stop. A stop
                    # due right here (a pause on the function's last line) still
                    # gets its `--Return--` prompt first
                    if self._stop_due_at_return(frame):
                        super().dispatch_return(frame, arg)
                    self._stepped_out()
                    return None
                if frames.is_coroutine(frame) and frame in (self.stopframe, self.returnframe):
                    # `n`/`r`/`until` past a coroutine's end: bdb ignores that
                    # return; stop at the caller's next line, as for a function
                    self._set_stopinfo(frames.user_caller(frame.f_back), None)
                    return self.trace_dispatch
            return super().dispatch_return(frame, arg)

        def user_exception(self, frame: Any, exc_info: Any) -> None:
            exc_type, _exc, tb = exc_info
            if exc_type in (StopIteration, GeneratorExit) and tb is None:
                # an awaited coroutine finishing: not a stop. (bdb stops here when
                # stepping over a coroutine's end; dispatch_return already moved
                # the stop to the caller's next line)
                return
            if frames.is_plumbing(frame):
                return
            if exc_type is StopAsyncIteration and _raised_in_plumbing(tb):
                # a devx stream's end (its __anext__ raises it, since 0fd62ba: an
                # async generator's end before) reaching the user's `async for`,
                # which takes it: the loop's end, not a stop
                return
            if issubclass(exc_type, trio.Cancelled) and self._tree_cancels_step():
                return
            super().user_exception(frame, exc_info)

        def _escaped(self) -> bool:
            """Three ctrl-c with no prompt on screen ended the tree while this REPL's
            step ran (:mod:`devx.debug.sigint`; the lock's closing may not have
            reached this actor, whose loop the step blocked): the step's stop is
            dropped, no prompt on the way out, and the session is let go."""
            from . import sigint

            session = self.session
            if session is None or not sigint.escaped(getattr(session, "hold_id", 0)):
                return False
            if not self.in_own_session():
                return False
            session.abandon()
            return True

        def _tree_cancels_step(self) -> bool:
            """The actor, or the call the stepping task serves, is cancelled under a
            running step (the tree ends: three ctrl-c with no prompt on screen, see
            :mod:`devx.debug.sigint`, whose teardown may cancel the call before the
            lock's closing reaches this actor; or a peer cancels it): no prompt while
            it unwinds, the session is let go. A cancel scope of the user's own code
            (a timeout) still stops the step, as in pdb."""
            from ..runtime.actor import call_scope, current_actor
            from . import tree_lock

            actor = current_actor(err_on_no_runtime=False)
            scope = call_scope.get()
            closed = tree_lock.view.state.closed
            ending = (
                closed
                or (actor is not None and actor.cancel_called.is_set())
                or (scope is not None and scope.cancel_called)
            )
            if not (ending and self._stepping_here() and self.session is not None):
                return False
            if not closed:  # (the ctrl-c escape said it: the tree ends)
                # this hold is still the terminal's: no other REPL's prompt is on screen
                # (one write: the line must not be split by another process's output)
                line = _cancel_why(actor, scope, self.stdout)
                with contextlib.suppress(OSError, ValueError):
                    self.stdout.write(line)
                    self.stdout.flush()
            self.session.abandon()
            return True

        def step_out(self, why: str = "") -> None:
            """End a live session's REPL as `c` would, saying so in one line."""
            if self.on_exit is None:
                return
            who = f" in actor {self.where!r}" if self.where else ""
            head = f"[devx] {why or 'stepped out of the paused code'}{who}:"
            tail = "the REPL ends as with 'c' and the program goes on"
            # (two lines when one would pass the terminal's width, at most 100)
            width = terminal.width(self.stdout)
            one = len(head) + 1 + len(tail) <= width
            text = f"{head} {tail}" if one else f"{head}\n       {tail}"
            self.message(terminal.fit(text, terminal.columns(self.stdout)))
            self._leave("stepped_out")
            super().set_continue()
            door.disown(self)
            door.tracing_off_if_idle()

        _stepped_out = step_out

        # --- leaving ---------------------------------------------------------------

        def _leave(self, how: ReleaseHow) -> None:
            cb, self.on_exit = self.on_exit, None
            if cb is not None:
                cb(how)

        def detach(self) -> None:
            """Stop tracing without leaving the session: the same task paused or
            crashed again, and a new trace or post-mortem takes over."""
            super().set_continue()

        def set_continue(self) -> None:
            super().set_continue()
            self._leave("continue")
            door.disown(self)
            if self.breaks:
                door.tracing_on()
            else:
                door.tracing_off_if_idle()

        def set_quit(self) -> None:
            super().set_quit()
            self._leave("quit")
            door.disown(self)
            door.tracing_off_if_idle()

        def preloop(self) -> None:
            super().preloop()
            self.reading = True  # cmd.Cmd reads the first line next
            stood_at = getattr(self.session, "stood_at", None)
            if stood_at is not None and self.in_own_session():
                stood_at(self.curframe)  # (each stop: the hold's record follows it)

        def precmd(self, line: str) -> Any:
            self.reading = False  # a line came: the command runs
            return super().precmd(line)

        def parseline(self, line: str) -> Any:
            cmd, arg, newline = super().parseline(line)
            word = line.strip()
            long = _SHADOWED.get(word)
            said = word in self._shadow_said
            # (not while a line is read: tab completion parses the line typed so far)
            if long is not None and newline.startswith("!") and not said and not self.reading:
                # pdbp's rule: a command that is also a name of the frame prints that
                # name's value. A `c` that printed a portal and left the REPL where it
                # was read as a hang: say it once per name, with the way out
                self._shadow_said.add(word)
                said_line = (
                    f"[devx] `{word}` is a name in this frame: that shows its value; "
                    f"`{long}` (or `!!{word}`) runs the command"
                )
                self.message(terminal.fit(said_line, terminal.columns(self.stdout)))
            return cmd, arg, newline

        def postcmd(self, stop: Any, line: str) -> Any:
            stop = super().postcmd(stop, line)
            self.reading = not stop  # the prompt again, unless the loop ends
            return stop

        def cmdloop(self, intro: Any = None) -> Any:
            self.live = True
            self.stepping_since = None
            try:
                return super().cmdloop(intro)
            finally:
                self.live = False
                self.reading = False
                if self.on_exit is not None:
                    self.stepping_since = time.monotonic()
                    _portal_for_step()

    return PdbREPL


@contextlib.contextmanager
def _exit_and_quit(make: Callable[[str], Any]) -> Iterator[None]:
    """builtins' ``exit`` and ``quit`` are ``make("exit")`` and ``make("quit")``
    meanwhile (put in where site put none: ``python -S``), as they were after."""
    import builtins

    saved = {name: getattr(builtins, name, None) for name in ("exit", "quit")}
    for name in saved:
        setattr(builtins, name, make(name))
    try:
        yield
    finally:
        for name, was in saved.items():
            if was is None:
                delattr(builtins, name)
            else:
                setattr(builtins, name, was)


class _PromptExit:
    """``exit``/``quit`` while the REPL runs a line typed at its prompt: called, it
    asks the REPL to quit (as `q`), without closing stdin as site's does."""

    def __init__(self, name: str, asked: list[str]) -> None:
        self.name, self.asked = name, asked

    def __repr__(self) -> str:
        return f"Use {self.name}(), q or Ctrl-D (i.e. EOF) to quit the REPL"

    def __call__(self, code: Any = None) -> None:
        self.asked.append(self.name)


class _ConsoleExit:
    """``exit``/``quit`` in the REPL's `interact` console, on every Python and with or
    without site: ends the console only, without closing stdin as site's does."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code: Any = None) -> None:
        raise SystemExit(code)


def _user_frame_in(tb: Any) -> bool:
    """``tb`` reaches a frame that is not devx's or trio's."""
    while tb is not None:
        if not frames.is_plumbing(tb.tb_frame):
            return True
        tb = tb.tb_next
    return False


def _raised_in_plumbing(tb: Any) -> bool:
    """The innermost frame ``tb`` reaches is devx's or trio's (not the user's code)."""
    last = None
    while tb is not None:
        last, tb = tb.tb_frame, tb.tb_next
    return last is not None and frames.is_plumbing(last)


def _cancel_why(actor: Any, scope: Any, out: Any = None) -> str:
    """The line (or two, laid out in :func:`terminal.width` of ``out``) that says why a
    REPL whose step met a cancel ends: the actor, or the call its task serves,
    cancelled by whom."""
    from ..runtime.actor import call_cancellers

    where = actor.path if actor is not None else "this process"
    if actor is not None and actor.cancel_called.is_set():
        by = actor.cancel_requested_by
        why = actor.cancel_reason or "cancelled"
        if by is not None and str(by) not in why:
            why = f"{why} ({by})"
    else:
        by = call_cancellers.get(scope) if scope is not None else None
        why = "the call this REPL serves was cancelled" + (f" by {by}" if by is not None else "")
    line = f"[devx] {where}: {why}: the REPL ends"
    if len(line) > terminal.width(out):
        line = f"[devx] {where}: the REPL ends:\n       {why}"
    return terminal.fit(line, terminal.columns(out)) + "\n"


def live_lock_state(hold_id: int = 0) -> Any:
    """The tree's lock as fresh as it can be had from inside a REPL: a child's
    view stopped at the REPL's start (its loop is blocked), so the root's lock file
    (:mod:`~devx.debug.lock_file`) or that view, whichever is newer. ``hold_id``:
    the asking REPL's own hold; the root writes the file a moment after a change
    (``lock_file.COALESCE_S``), so right after a hand-off it is waited for (at most
    a second) until it shows that hold."""
    from ..runtime.actor import current_actor
    from . import lock_file, tree_lock

    actor = current_actor(err_on_no_runtime=False)
    if actor is None or actor.is_root:
        if actor is not None:
            _root_reads_requests()
        return tree_lock.view.state
    deadline = time.monotonic() + lock_file.COALESCE_S + 1.0
    while True:
        state = tree_lock.view.state
        written = lock_file.read(actor.root_uid.uuid)
        if written is not None and written.seq > state.seq:
            state = written
        if not hold_id or state.hold_id == hold_id or time.monotonic() >= deadline:
            return state
        time.sleep(0.02)  # a REPL command, the loop is blocked: nothing to wait on


def _root_reads_requests() -> None:
    """A REPL of the root's on its loop's thread blocks the loop: what the children
    asked since it stopped waits unread in the root's sockets, and its lock (which
    ``waiters`` and ``switch`` read) knows nobody of them. Let the loop read them
    first (bounded, as a release from such a REPL does before its next grant); the
    root's other tasks run that moment too. A thread's REPL leaves the loop free.
    Shielded: the REPL's task may be in a cancelled scope (a deadline around the code
    being debugged passed while the user read it; a pause with ``shield=True``), and
    that cancel, raised out of a REPL command, would end the REPL in the stdlib."""
    if current_task() is None:
        return
    try:
        import greenback

        if not greenback.has_portal():
            return
        greenback.await_(_read_requests_shielded())
    except Exception:  # the queue as known: never worse than before
        return


async def _read_requests_shielded() -> None:
    import trio

    from .lock import let_readers_run

    with trio.CancelScope(shield=True):  # (bounded: SETTLE_MAX_S, then a few passes)
        await let_readers_run()


def _portal_for_step() -> None:
    """A step leaves the prompt: give the task a greenback portal (usable once it
    yields, which is the only way its session can give the terminal up meanwhile),
    so its next stop can queue for the terminal again (:mod:`devx.debug.door`)."""
    task = current_task()
    if task is None:
        return
    try:
        import greenback

        greenback.bestow_portal(task)
    except Exception:  # no greenback: such a stop ends the step, saying so
        pass


def current_task() -> Any:
    """The running trio task; else, in an actor running as asyncio's guest, the
    running asyncio task (its ``breakpoint()`` owns its REPL as a trio task does);
    else None (a thread's REPL)."""
    try:
        return trio.lowlevel.current_task()
    except RuntimeError:  # not in a trio task
        return asyncio_task()


def asyncio_task() -> Any:
    """The asyncio task running on this thread, None when there is none (asyncio is
    never imported for it: an actor that does not use it has not imported it)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        return None


def warm_up(delay: float = 0.2) -> Callable[[], None]:
    """Import pdbp (~40 ms) on a helper thread ``delay`` s from now, so that a debug-mode
    actor's first pause does not pay for it while the user waits for the prompt.
    Returns a function that calls it off (an actor that exits first)."""
    from ..core.threads import start_thread

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


# a PdbREPL built ahead for the next REPL of this process (see prepare), with the
# stdin and stdout it was made for
_spare: list[tuple[Any, Any, Any]] = []


def prepare() -> None:
    """Build the next REPL's :class:`PdbREPL` now: a pause does it while it waits for
    the root's grant anyway (~0.1 ms less between the grant and the prompt)."""
    if not _spare:
        _spare.append((_pdbrepl_class()(), sys.stdin, sys.stdout))


def take_pdb() -> Any:
    """A PdbREPL for a REPL about to open: the one :func:`prepare` built, unless
    stdin or stdout were swapped since; else a new one."""
    try:
        pdb, stdin, stdout = _spare.pop()
    except IndexError:
        return mk_pdb()
    return pdb if stdin is sys.stdin and stdout is sys.stdout else mk_pdb()


def __getattr__(name: str) -> Any:
    if name == "PdbREPL":
        return _pdbrepl_class()
    raise AttributeError(name)
