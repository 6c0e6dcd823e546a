"""The short form of a stack dump: one line per task (and per thread running user
code), ``<actor path>  task '<name>' at <file>:<line> in <function>``, naming the
innermost *user* frame (not devx, trio, stackscope or the stdlib). Tasks with no user
frame (devx's and trio's own) fold into one ``[runtime]`` line per actor.

The task tree is walked with trio's public API (``Task.child_nurseries``,
``Nursery.child_tasks``) and each task's coroutine chain (``cr_await``), so it is
complete on every Python trio supports, whatever stackscope manages to map.

Each dump carries its brief as a section headed ``-- brief:``; :func:`extract` reads
it back from a dump's text and :func:`merge` orders the lines of a whole tree (user
lines first). This module imports nothing heavy at import time.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any

from ...runtime.inline import past_a_checkpoint
from ...runtime.workers import IDLE_NAME

# the driver of a call its worker read off the channel (runtime.inline): the call's
# coroutine is its local, driven by hand, not awaited
_DRIVER = past_a_checkpoint.__code__

BRIEF_HEAD = "-- brief:"
RUNTIME = "[runtime]"
_MAX_CHAIN = 500
# what devx runs on besides devx and trio (frames.PLUMBING): its own threads live here
_RUNTIME_MODULES = frozenset({"devx_pytest", "stackscope", "opentelemetry", "structlog", "msgspec"})


# --- walking trio ----------------------------------------------------------------------


def walk_tasks(root: Any) -> Iterator[tuple[int, Any]]:
    """``(depth, task)`` for ``root`` and every task below it, parents first."""
    todo: list[tuple[int, Any]] = [(0, root)]
    while todo:
        depth, task = todo.pop()
        yield depth, task
        kids = [t for n in task.child_nurseries for t in n.child_tasks]
        kids.sort(key=lambda t: t.name)
        todo.extend((depth + 1, t) for t in reversed(kids))


def coro_frames(coro: Any) -> list[FrameType]:
    """The frames of a suspended coroutine chain, outermost first (``cr_await`` /
    ``gi_yieldfrom`` / ``ag_await`` links; stops at anything without a frame; a call
    driven by :func:`~devx.runtime.inline.past_a_checkpoint` goes on into its
    coroutine). A task with a greenback portal (every task running user code in a debug-mode
    actor) runs its coroutine inside greenback's shim, which holds it in a local,
    not an ``await``: the chain goes on into it (:func:`_through_greenback`)."""
    out: list[FrameType] = []
    for _ in range(_MAX_CHAIN):
        if coro is None:
            break
        frame = (
            getattr(coro, "cr_frame", None)
            or getattr(coro, "gi_frame", None)
            or getattr(coro, "ag_frame", None)
        )
        if frame is None:
            break
        out.append(frame)
        if frame.f_code.co_name == "_greenback_shim" and frame.f_globals.get(
            "__name__", ""
        ).startswith("greenback"):
            coro, running = _through_greenback(frame)
            if running is not None:
                out.extend(thread_frames(running))
                break
            continue
        if frame.f_code is _DRIVER:  # (it yields its coroutine's waits, not `await`s it)
            coro = frame.f_locals.get("coro")
            continue
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "gi_yieldfrom", None)
            or getattr(coro, "ag_await", None)
        )
    return out


def _through_greenback(shim: FrameType) -> tuple[Any, FrameType | None]:
    """What greenback's shim frame runs: ``(the task's own coroutine, None)`` when it
    waits at an ``await``; ``(None, innermost frame)`` when its sync code waits in
    ``greenback.await_()``, on the stack of the greenlet the shim resumes."""
    local = shim.f_locals
    orig = local.get("orig_coro")
    if getattr(orig, "cr_running", False):
        green = local.get("resume_greenlet") or local.get("child_greenlet")
        return None, getattr(green, "gr_frame", None)
    return orig, None


def thread_frames(top: FrameType | None) -> list[FrameType]:
    """A thread's frames, outermost first, from its innermost frame."""
    out = []
    while top is not None:
        out.append(top)
        top = top.f_back
    out.reverse()
    return out


# --- which frame is the user's -----------------------------------------------------------


_stdlib_dirs: tuple[str, ...] | None = None


def _stdlib() -> tuple[str, ...]:
    global _stdlib_dirs
    if _stdlib_dirs is None:
        import sysconfig

        paths = sysconfig.get_paths()
        dirs = {os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib")}
        dirs |= {paths[k] + os.sep for k in ("stdlib", "platstdlib")}
        _stdlib_dirs = tuple(dirs)
    return _stdlib_dirs


def is_user(frame: FrameType) -> bool:
    from .. import frames

    if frames.is_plumbing(frame):
        return False
    name = frame.f_globals.get("__name__") or ""
    if name.split(".", 1)[0] in _RUNTIME_MODULES:
        return False
    fname = frame.f_code.co_filename
    if fname.startswith("<"):
        return False
    return not (fname.startswith(_stdlib()) and os.sep + "site-packages" + os.sep not in fname)


def innermost_user(chain: list[FrameType]) -> FrameType | None:
    return next((f for f in reversed(chain) if is_user(f)), None)


def where(frame: FrameType) -> str:
    fname = frame.f_code.co_filename
    try:
        rel = os.path.relpath(fname)
        if not rel.startswith(".." + os.sep):
            fname = rel
    except ValueError:
        pass
    return f"{fname}:{frame.f_lineno} in {frame.f_code.co_name}"


# --- building the section ----------------------------------------------------------------


def _fold(who: str, tasks: int, threads: int) -> str:
    if not (tasks or threads):
        return ""
    parts = []
    if tasks:
        parts.append(f"{tasks} task{'s' if tasks != 1 else ''}")
    if threads:
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return f"{who}  {RUNTIME} {' and '.join(parts)} of devx/trio, no user frame\n"


def _threads(
    who: str, skip: set[int], blocked_task: str | None
) -> tuple[list[str], int, list[str]]:
    """(user lines, runtime thread count, the main thread's line when it blocks the
    loop) for the threads of this process not in ``skip``."""
    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    lines, folded, first = [], 0, []
    for ident, top in sys._current_frames().items():
        if ident in skip:
            continue
        name = names.get(ident, "")
        user = None if name.startswith("devx-") else innermost_user(thread_frames(top))
        if user is None:
            folded += 1
        elif ident == main and blocked_task is not None:
            first.append(f"{who}  task {blocked_task!r} at {where(user)} (blocks the loop)\n")
        else:
            lines.append(f"{who}  thread {name or ident!r} at {where(user)}\n")
    return lines, folded, first


def for_trio(who: str, root: Any, current: Any, skip_threads: set[int]) -> tuple[str, int]:
    """The brief section of a dump taken on the trio loop, and the task count."""
    user, folded, count = [], 0, 0
    for _depth, task in walk_tasks(root):
        count += 1
        if task is current:
            folded += 1
            continue
        frame = innermost_user(coro_frames(task.coro))
        if frame is None:
            folded += 1
        else:
            user.append(f"{who}  task {task.name!r} at {where(frame)}\n")
    t_lines, t_folded, _ = _threads(who, skip_threads, None)
    return _section(user + t_lines, _fold(who, folded, t_folded), count), count


def for_threads(who: str, skip_threads: set[int], blocked_task: str | None) -> str:
    """The brief section of a dump taken from outside a stuck (or absent) loop."""
    t_lines, t_folded, first = _threads(who, skip_threads, blocked_task)
    note = (
        f"{who}  {RUNTIME} trio tasks not walked: the loop does not run (see below)\n"
        if blocked_task is not None
        else ""
    )
    return _section(first + t_lines, note + _fold(who, 0, t_folded), None)


def _section(user: list[str], folded: str, tasks: int | None) -> str:
    what = f"{tasks} tasks, " if tasks is not None else ""
    head = (
        f"{BRIEF_HEAD} {what}{len(user)} with user code (innermost frame outside devx, trio "
        "and the stdlib); the rest folded --\n"
    )
    return head + "".join(user) + folded


def task_tree(root: Any, current: Any) -> str:
    """Every task below ``root`` with its coroutine frames, indented by nesting: the
    detail for when stackscope cannot walk the tree."""
    out = []
    for depth, task in walk_tasks(root):
        pad = "  " * depth
        if task is current:
            out.append(f"{pad}task {task.name!r}: writing this dump\n")
            continue
        out.append(f"{pad}task {task.name!r}:\n")
        for entry in format_frames(coro_frames(task.coro)):
            out.extend(f"{pad}  {line}\n" for line in entry.rstrip("\n").split("\n"))
    return "".join(out)


_REPEATS = 3  # traceback's _RECURSIVE_CUTOFF: identical frames shown before folding


def format_frames(chain: list[FrameType]) -> list[str]:
    """What ``traceback.StackSummary.extract(((f, f.f_lineno) for f in chain),
    lookup_lines=True).format()`` gives (one ``File, line, in`` entry with its stripped
    source line per frame, ``sys.tracebacklimit`` applied, more than three identical
    frames in a row folded), without a FrameSummary per frame and Python 3.13's
    caret and dedent machinery: every task's frames in every dump, ~1/3 of its CPU."""
    import linecache

    limit = getattr(sys, "tracebacklimit", None)
    if limit is not None:  # (a negative one shows nothing, as in traceback)
        chain = chain[: max(limit, 0)]
    files: dict[str, None] = {}
    for f in chain:
        name = f.f_code.co_filename
        if name not in files:
            files[name] = None
            linecache.lazycache(name, f.f_globals)
    for name in files:
        linecache.checkcache(name)
    out: list[str] = []
    last: tuple[str, int | None, str] | None = None
    count = 0
    for f in chain:
        code, lineno = f.f_code, f.f_lineno
        key = (code.co_filename, lineno, code.co_name)
        if key != last:
            if count > _REPEATS:
                out.append(_repeated(count - _REPEATS))
            last, count = key, 0
        count += 1
        if count > _REPEATS:
            continue
        shown = code.co_filename
        if sys.version_info >= (3, 13) and shown.startswith("<stdin>-"):
            shown = "<stdin>"
        entry = f'  File "{shown}", line {lineno}, in {code.co_name}\n'
        line = linecache.getline(code.co_filename, lineno).strip() if lineno else ""
        out.append(entry + f"    {line}\n" if line else entry)
    if count > _REPEATS:
        out.append(_repeated(count - _REPEATS))
    return out


def _repeated(n: int) -> str:
    return f"  [Previous line repeated {n} more time{'s' if n > 1 else ''}]\n"


def task_summary(root: Any, current: Any, trio_dir: str) -> tuple[str, int]:
    """One line per task, indented by nesting, in the format of the dump's stackscope
    summary (``at`` = innermost non-trio frame, ``waits in`` = the exact wait point),
    from trio's own task tree; and the task count."""
    out, count = [], 0
    for depth, task in walk_tasks(root):
        count += 1
        pad, name = "  " * depth, f"task {task.name!r}"
        chain = [] if task is current else coro_frames(task.coro)
        if task is current:
            out.append(f"{pad}{name}: writing this dump\n")
            continue
        if task.name == IDLE_NAME:  # (its loop's frames are hidden, not missing)
            out.append(f"{pad}{name}: parked, serves the next call\n")
            continue
        if not chain:
            out.append(f"{pad}{name}: not started\n")
            continue
        # trio's traps are the mechanism, not the wait point (stackscope hides them)
        shown = [f for f in chain if f.f_globals.get("__name__") != "trio._core._traps"]
        leaf = (shown or chain)[-1]
        at = next(
            (f for f in reversed(chain) if not f.f_code.co_filename.startswith(trio_dir)), leaf
        )
        code = at.f_code
        text = f"{pad}{name} at {code.co_filename}:{at.f_lineno} in {code.co_name}"
        if at is not leaf:
            mod = leaf.f_globals.get("__name__") or leaf.f_code.co_filename
            text += f" (waits in {mod}.{leaf.f_code.co_name}:{leaf.f_lineno})"
        out.append(text + "\n")
    return "".join(out), count


# --- reading it back -----------------------------------------------------------------------


def extract(dump: str) -> list[str]:
    """The brief lines of one dump's text (empty for a dump without the section)."""
    out: list[str] = []
    inside = False
    for line in dump.splitlines():
        if line.startswith(BRIEF_HEAD):
            inside = True
        elif inside and (line.startswith("-- ") or line.startswith("=====")):
            break
        elif inside and line.strip():
            out.append(line)
    return out


def is_runtime(line: str) -> bool:
    _head, sep, rest = line.partition("  ")
    return bool(sep) and rest.startswith(RUNTIME)


def merge_briefs(dumps: Iterable[str]) -> list[str]:
    """The brief lines of several dumps (in tree order): every user line first, a
    task blocking its loop before the rest, then the folded runtime lines."""
    lines = [line for d in dumps for line in extract(d)]
    user = [x for x in lines if not is_runtime(x)]
    user.sort(key=lambda x: not x.endswith("(blocks the loop)"))
    return user + [x for x in lines if is_runtime(x)]
