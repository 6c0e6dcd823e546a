"""The ``devx`` command. Subcommands are small functions registered in
:func:`build_parser`; each returns the process exit code.

``devx dump <pid | pattern>``  signal a running tree and print every actor's stack dump
``devx ps``                    list this user's running trees, the processes that take
                               stack dumps, and each debug tree's terminal: holder and waiters
``devx --version``             (also ``python -m devx``)
``devx attach [PID|NAME|PATTERN]`` be the terminal of a tree that runs without one
``devx timeline [FILE]``       who held the terminal and when, read back from telemetry
``devx registrar --listen HOST:PORT``  a standalone registrar for trees that share a secret
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devx.debug.lock_file import TreeLock
    from devx.debug.stack import Entry
    from devx.debug.tree_file import TreeAdvert

EXIT_OK = 0
EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


def _err(msg: str) -> None:
    print(f"devx: {msg}", file=sys.stderr)


# --- devx dump -------------------------------------------------------------------------


def _match(target: str, entries: list[Entry]) -> list[Entry] | None:
    """Entries named by a pid, or whose command line (as ``pgrep -f`` sees it), actor
    name or tree path the regex ``target`` matches; ``None`` on a bad regex."""
    from devx.debug import stack

    me = os.getpid()
    if target.isdigit():
        return [e for e in entries if e.pid == int(target) and e.pid != me]
    try:
        rx = re.compile(target)
    except re.error as exc:
        _err(f"dump: bad pattern {target!r}: {exc}")
        return None
    out = []
    for e in entries:
        if e.pid == me:
            continue
        cmdline = " ".join(stack.proc_cmdline(e.pid) or ())
        if any(rx.search(s) for s in (cmdline, e.name, e.path) if s):
            out.append(e)
    return out


def cmd_dump(args: argparse.Namespace) -> int:
    from devx.debug import stack

    entries = stack.entries()
    matched = _match(args.target, entries)
    if matched is None:
        return EXIT_USAGE
    if not matched:
        from devx.debug.stack.registry import runtime_dir_problem

        problem = runtime_dir_problem()
        if problem is not None:
            _err(f"dump: {problem}. Nothing was signalled.")
            return EXIT_NO_MATCH
        where = stack.runtime_dir(create=False) or "(no registry directory)"
        _err(
            f"dump: no devx actor of yours with stack dumps enabled matches {args.target!r} "
            f"({len(entries)} registered in {where}). Enable them with "
            "open_root_actor(enable_stack_on_sig=True) or DEVX_ENABLE_STACKSCOPE=1; "
            "`devx ps` lists them. Nothing was signalled."
        )
        return EXIT_NO_MATCH
    res = stack.collect(matched, entries, args.timeout)
    for problem in res.problems:
        _err(f"dump: {problem}: skipped")
    if not res.signalled:
        return EXIT_NO_MATCH
    summary = stack.merge_briefs(res.texts)
    if args.brief:
        sys.stdout.write("".join(f"{line}\n" for line in summary))
    else:
        if summary:
            sys.stdout.write(f"{stack.BRIEF_HEAD} every actor, user code first --\n")
            sys.stdout.write("".join(f"{line}\n" for line in summary) + "\n")
        for _e, text in res.got:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.write("\n")
    sys.stdout.flush()
    total = len(res.got) + len(res.missing)
    trees = ", ".join(r.label for r in res.signalled)
    _err(f"dump: {len(res.got)}/{total} dumps in {res.elapsed:.2f} s from {trees}")
    for e in res.missing:
        _err(
            f"dump: no dump from {e.label} within {args.timeout:g} s "
            "(blocked in C code that holds the GIL? exiting?)"
        )
    return EXIT_OK if not res.missing else EXIT_INCOMPLETE


# --- devx ps ---------------------------------------------------------------------------


def proc_age_s(pid: int, start_ticks: int | None = None) -> float | None:
    """Seconds since process ``pid`` started (from /proc), ``None`` when unknown."""
    from devx.debug import stack

    ticks = start_ticks if start_ticks is not None else stack.proc_start_time(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


def age_text(secs: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``3d04h`` (``?`` when unknown)."""
    if secs is None:
        return "?"
    s = int(secs)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


PS_COLUMNS = ("PID", "AGE", "ACTOR", "UID", "COMMAND")


def command_text(pid: int) -> str:
    """``pid``'s command line on one line, as ``ps`` shows it: a newline, a tab or an
    escape in an argument (a ``python -c`` script) is written as Python would escape
    it, never raw (a table row spread over the script's lines)."""
    from devx.debug import stack

    text = " ".join(stack.proc_cmdline(pid) or ())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def ps_rows(entries: Iterable[Entry]) -> list[tuple[str, ...]]:
    """One row per process, in tree order, children indented under their parent; the
    command line is shown for each tree's root and plain program (a child's is always
    devx's own child entry point)."""

    rows: list[tuple[str, ...]] = []
    for e in sorted(entries, key=lambda e: e.sort_key):
        depth = e.path.count("/") if e.actor else 0
        name = "  " * depth + (e.path or e.name)
        cmd = ""
        if e.is_root or not e.actor:
            cmd = command_text(e.pid)
        uid = e.uid if e.actor else "(no actor runtime)"
        age = age_text(proc_age_s(e.pid, e.start_time))
        rows.append((str(e.pid), age, name, uid, cmd))
    return rows


TREE_COLUMNS = ("PID", "AGE", "STARTED", "TREE", "UID", "ACTORS", "MODE", "COMMAND")


def started_text(when: float, now: float | None = None) -> str:
    """A start time as ``ps`` shows it: ``HH:MM:SS`` today, else ``Mon DD``."""
    import time

    t, today = time.localtime(when), time.localtime(now)
    if (t.tm_year, t.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", t)
    return time.strftime("%b %d", t)


def tree_rows(
    adverts: Iterable[TreeAdvert], entries: Sequence[Entry], locks: Sequence[TreeLock]
) -> list[tuple[str, ...]]:
    """One row per running tree (its root's advert), oldest first: how long it runs,
    its actors (when its root holds their registry, else ``?``), and how it runs:
    ``debug`` (debug mode, or a turn at the terminal was asked for), ``attach`` (its
    REPLs wait for `devx attach`), ``dumps`` (its root takes stack dumps)."""

    dumping = {e.pid for e in entries}
    debugging = {t.root_uuid for t in locks}
    rows: list[tuple[str, ...]] = []
    for t in adverts:
        mode = [
            flag
            for flag, on in (
                ("debug", t.debug or t.root_uuid in debugging),
                ("attach", t.attach),
                ("dumps", t.pid in dumping),
            )
            if on
        ]
        rows.append(
            (
                str(t.pid),
                age_text(proc_age_s(t.pid, t.start_time)),
                started_text(t.started),
                t.path or t.name,
                t.uid,
                "?" if t.actors is None else str(t.actors),
                ",".join(mode) or "-",
                command_text(t.pid),
            )
        )
    return rows


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Iterable[int] = (0, 1),
    width: int = 0,
) -> list[str]:
    """Columns padded to their widest cell (numbers right-aligned: the columns
    ``right``, by default PID and AGE); the last column is never padded, and cut
    with an ellipsis only where a line would pass ``width`` columns (0: never)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    numeric = set(right)

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ]
        last = cells[-1]
        if width > 0:
            room = width - len("  ".join([*parts, ""]))
            if len(last) > room:
                last = last[: max(room - 1, 0)] + "…"
        return "  ".join([*parts, last]).rstrip()

    return [line(header), *(line(r) for r in rows)]


def lock_lines(trees: Iterable[TreeLock]) -> list[str]:
    """Per debug tree: its root, who holds the terminal and who waits for it."""
    from devx.debug.waiters import state_lines

    out: list[str] = []
    for tree in trees:
        out.append(f"terminal of tree {tree.name!r} (root {tree.uid}, pid {tree.pid}):")
        lines = state_lines(tree.state)
        if tree.attach:  # no terminal: the holder's REPL waits for a client, or has one
            from devx.debug.attach import attached_client

            client = attached_client(tree.root_uuid)
            if client is None:
                label = "waiting for `devx attach`: "
            else:
                on = f" on {client[1]}" if client[1] else ""
                label = f"attached (`devx attach` pid {client[0]}{on}): "
            lines = [
                line.replace("holder: ", label, 1) if line.startswith("holder: ") else line
                for line in lines
            ]
        out.extend(f"  {line}" for line in lines)
        holder = tree.state.holder
        if holder is not None and "/" not in holder.path and not holder.thread:
            # the root's own REPL on its loop: the children's requests since it stopped
            # wait unread in its sockets (read at its end, or at `waiters` there)
            out.append(
                "  (the root's REPL blocks the root's loop: REPLs asked for since it stopped"
            )
            out.append("   show once it reads them, at its end or at `waiters` there)")
    return out


def _ps_width(choice: int | None) -> int:
    """Columns a ``devx ps`` line fits in (0: no cut): ``--width``, else the
    terminal's width when stdout is one (or ``COLUMNS``, as ``ps``), else 0: a pipe
    gets whole command lines (scripts grep them)."""
    import shutil

    if choice is not None:
        return choice
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    return shutil.get_terminal_size((0, 24)).columns if tty else 0


def cmd_ps(args: argparse.Namespace) -> int:
    from devx.debug import lock_file, stack, tree_file

    adverts = tree_file.trees()
    entries = stack.entries()
    trees = lock_file.trees()
    width = _ps_width(args.width)
    sections = []
    if adverts:
        rows = tree_rows(adverts, entries, trees)
        sections.append(format_table(TREE_COLUMNS, rows, right=(0, 1, 5), width=width))
    if entries:
        sections.append(
            [
                "stack dumps enabled (`devx dump` takes any of these):",
                *format_table(PS_COLUMNS, ps_rows(entries), width=width),
            ]
        )
    elif adverts:
        from devx.debug.terminal import fit

        hint = (
            "no process of yours takes stack dumps: enable them with "
            "open_root_actor(enable_stack_on_sig=True) or DEVX_ENABLE_STACKSCOPE=1"
        )
        sections.append([fit(hint, width) if width else hint])
    if trees:
        from devx.debug.terminal import fit

        # a long path or file name would wrap mid-word: broken at spaces, as the hint
        lines = lock_lines(trees)
        sections.append([fit(line, width) for line in lines] if width else lines)
    if not sections:
        from devx.debug.stack.registry import runtime_dir_problem

        problem = runtime_dir_problem()
        if problem is not None:
            _err(f"ps: {problem}")
            return EXIT_OK
        where = stack.runtime_dir(create=False) or "(none yet)"
        _err(f"ps: no devx tree of yours is running (runtime directory: {where})")
        return EXIT_OK
    print("\n\n".join("\n".join(lines) for lines in sections))
    return EXIT_OK


def cmd_attach(args: argparse.Namespace) -> int:
    from devx.debug import attach_client

    try:
        return attach_client.run(args.target)
    except attach_client.AttachError as err:
        _err(str(err))
        return EXIT_NO_MATCH


# --- devx timeline ---------------------------------------------------------------------


def _want_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _text_width(choice: int | None) -> int:
    """Columns the text fits in: ``--width``, else the terminal's (or ``COLUMNS``),
    else 100 (a pipe)."""
    import shutil

    if choice is not None:
        return max(choice, 0)
    return shutil.get_terminal_size((100, 24)).columns


def _write_out(text: str, dest: str | None) -> None:
    """``text`` to stdout, or to the file ``dest``."""
    if dest is None or dest == "-":
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `devx timeline | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text)


def cmd_timeline(args: argparse.Namespace) -> int:
    from devx.telemetry import timeline

    path = args.file
    if path is None and args.trace:  # the file that holds it (another tree's, say)
        where = timeline.telemetry_dir()
        path = timeline.file_with_trace(args.trace, where)
        if path is None:
            _err(
                f"timeline: no telemetry file of yours in {where} holds trace "
                f"{args.trace!r}; pass FILE (a tree on another host wrote its own)"
            )
            return EXIT_NO_MATCH
        _err(f"timeline: {path} (your newest in {where} with trace {args.trace})")
    if path is None:
        where = timeline.telemetry_dir()
        path = timeline.newest_file(where)
        if path is None:
            _err(
                f"timeline: no telemetry file (*.otlp.jsonl) in {where}; pass FILE, e.g. "
                "the path a tree printed as `devx: telemetry written to ...`"
            )
            return EXIT_NO_MATCH
        _err(f"timeline: {path} (your newest in {where}; pass FILE for another)")
    fmt, dest = args.format, args.output
    if args.chrome_trace is not None:
        fmt, dest = "chrome", args.chrome_trace
    if args.html is not None:
        fmt, dest = "html", args.html
    try:
        ses = timeline.build(
            path, trace_id=args.trace, only=args.actor or (), contexts=args.contexts
        )
    except OSError as exc:
        _err(f"timeline: cannot read {path}: {exc.strerror or exc}")
        return EXIT_NO_MATCH
    except timeline.TimelineError as exc:
        _err(f"timeline: {path}: {exc}")
        return EXIT_NO_MATCH
    if fmt == "chrome":
        from devx.telemetry.timeline import chrome

        text = chrome.render(ses)
    elif fmt == "html":
        from devx.telemetry.timeline import html

        text = html.render(ses, width=args.width or None)
    else:
        to_tty = dest in (None, "-")
        width = _text_width(args.width) if to_tty else (args.width or 0)
        color = _want_color(args.color) if to_tty else args.color == "always"
        text = timeline.render_session(ses, color=color, width=width) + "\n"
    try:
        _write_out(text, dest)
    except OSError as exc:
        _err(f"timeline: cannot write {dest}: {exc.strerror or exc}")
        return EXIT_USAGE
    if dest not in (None, "-"):
        how = {
            "chrome": " (open it in https://ui.perfetto.dev or chrome://tracing)",
            "html": " (open it in a browser: one self-contained page)",
        }.get(fmt, "")
        _err(f"timeline: wrote {dest}{how}")
    return EXIT_OK


# --- entry -----------------------------------------------------------------------------


def _version() -> str:
    from devx import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devx",
        description=(
            "Tools for devx actor trees: list running trees (ps), dump every actor's "
            "stacks (dump), be the terminal of a tree that runs without one (attach), "
            "read a tree's debugging session back from its telemetry (timeline), list "
            "or check the settings (settings), run a standalone registrar (registrar). "
            "`devx COMMAND --help` tells more."
        ),
    )
    parser.add_argument("--version", action="version", version=f"devx {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    dump = sub.add_parser(
        "dump",
        help="dump the task trees and threads of every actor of a running tree",
        description=(
            "Signal a running devx tree (its actors must have stack dumps enabled) and "
            "print every actor's dump, ordered by tree path, after a one-line-per-task "
            "summary (--brief: only the summary). TARGET is a pid, or a regex matched like "
            "`pgrep -f` against command lines (also against actor names and tree paths) of "
            "your own registered devx processes; the topmost matches are "
            "signalled and relay to their subtrees."
        ),
    )
    dump.add_argument("target", metavar="TARGET", help="pid or name pattern")
    dump.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        metavar="S",
        help="seconds to wait for every dump (default: %(default)s)",
    )
    dump.add_argument(
        "--brief",
        action="store_true",
        help="only the summary: one line per task (actor path, task, innermost user frame), "
        "user tasks first, devx's own tasks folded into one line per actor",
    )
    dump.set_defaults(func=cmd_dump)

    at = sub.add_parser(
        "attach",
        help="be the terminal of a tree that runs without one (DEVX_ATTACH=1)",
        description=(
            "Take the next REPL waiting in a tree of yours that runs without a terminal "
            "in attach mode (DEVX_ATTACH=1 or open_root_actor(attach=True); `devx ps` "
            "lists them): the same banner and (Pdb+) prompt as on a terminal; c, q, "
            "ctrl-d and ctrl-c behave as there; when the REPL ends the next waiting one "
            "is taken; ctrl-\\ detaches and leaves the REPL waiting. TARGET is the "
            "root's pid or name, or a pattern of its command line as for `devx dump` "
            "(needed when several trees wait)."
        ),
    )
    at.add_argument(
        "target", metavar="TARGET", nargs="?", help="root pid, name or command-line pattern"
    )
    at.set_defaults(func=cmd_attach)

    ps = sub.add_parser(
        "ps",
        help="list your running devx trees, the processes that take stack dumps, and who "
        "holds or waits for each debug tree's terminal",
        description=(
            "List this user's running devx trees, with or without stack dumps or debug "
            "mode, one line each from the file its root keeps in your private runtime "
            "directory: the root's pid, age and start time, the tree's name and uid, "
            "its actor count (when the root holds the registry they register with, "
            "else ?), its mode (debug, attach, dumps) and command line. Then the "
            "processes that have stack dumps enabled "
            "(open_root_actor(enable_stack_on_sig=True) or DEVX_ENABLE_STACKSCOPE=1), "
            "one line each in tree order: pid, age, the actor's tree path (children "
            "indented under their parent), its uid, and for each tree's root (or plain "
            "program) its command line, so two trees of the same name are told apart. "
            "Any of these can be passed to `devx dump`. Then, for each running tree in "
            "debug mode (or that ever asked for the terminal), whatever its dump setting: "
            "who holds the terminal and who waits for it (tree path, why, file:line, for "
            "how long), from the state its root keeps in your private runtime directory. "
            "Exits 0, also when there are none. On a terminal a command line is cut "
            "(ending in …) where it would pass the terminal's width; piped, it is whole."
        ),
    )
    ps.add_argument(
        "--width",
        type=_count,
        metavar="N",
        help="cut command lines to fit N columns (default: the terminal's width on a "
        "terminal, whole in a pipe; 0: never cut)",
    )
    ps.set_defaults(func=cmd_ps)

    tl = sub.add_parser(
        "timeline",
        help="who held the terminal and when: a tree's telemetry as text or a picture",
        description=(
            "Print one tree's debugging session from its telemetry file (OTLP/JSON lines): "
            "its actors, every turn at the terminal (TTY lock holds, REPLs), crashes, "
            "remote errors, stack dumps and exits, timed from the tree's start; or the same "
            "as a picture (--chrome-trace: Chrome trace-event JSON for chrome://tracing "
            "or Perfetto, one track per actor; --html: one self-contained page). FILE "
            "defaults to the newest *.otlp.jsonl in the default telemetry directory "
            "($TMPDIR/devx-telemetry-<uid>/). No trace viewer needed."
        ),
    )
    tl.add_argument("file", metavar="FILE", nargs="?", help="telemetry file (default: newest)")
    tl.add_argument(
        "--trace",
        metavar="ID",
        help="the trace to show when FILE holds several (a unique prefix is enough; "
        "default: the last tree); without FILE, the newest file holding it",
    )
    tl.add_argument(
        "--actor",
        metavar="PATH",
        action="append",
        help="only this actor and the actors under it (its tree path, e.g. root/worker; "
        "repeat for several)",
    )
    tl.add_argument(
        "--contexts",
        action="store_true",
        help="list every context's started, stream and result events (past "
        "24 of them in a trace, one line per actor counts them)",
    )
    tl.add_argument(
        "--format",
        choices=("text", "chrome", "html"),
        default="text",
        help="text (default); chrome: Chrome trace-event JSON, one track per actor, "
        "for chrome://tracing or https://ui.perfetto.dev; html: one self-contained page",
    )
    tl.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write to the file OUT instead of stdout",
    )
    tl.add_argument(
        "--chrome-trace",
        metavar="OUT",
        help="write the Chrome trace-event JSON to OUT (the same as --format chrome -o OUT)",
    )
    tl.add_argument(
        "--html",
        metavar="OUT",
        help="write one self-contained HTML page to OUT (no script, no network): a lane "
        "per actor, holds, REPLs, crashes and dumps as bars and marks, details on hover "
        "(the same as --format html -o OUT)",
    )
    tl.add_argument(
        "--width",
        type=_count,
        metavar="N",
        help="fit the text in N columns (default: the terminal's width, 100 in a pipe; "
        "0: never cut); with --html, the drawing's width in px (default 1340)",
    )
    tl.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default: %(default)s, i.e. on a terminal unless NO_COLOR)",
    )
    tl.set_defaults(func=cmd_timeline)

    st = sub.add_parser(
        "settings",
        help="list every DEVX_* setting, or check the environment's values",
        description=(
            "Print every environment variable devx reads (layer, default, what it does) "
            "as the README's table; with --check, resolve this environment's values as a "
            "tree's root would and say which one is refused and why."
        ),
    )
    st.add_argument("--check", action="store_true", help="validate the current environment")
    st.set_defaults(func=cmd_settings)

    reg = sub.add_parser(
        "registrar",
        help="run a standalone registrar that trees sharing DEVX_TREE_SECRET register with",
        description=(
            "Hold the registry of actors for every tree that opens with "
            "registry_addrs=[(HOST, PORT)] and shares this process's tree secret "
            "(DEVX_TREE_SECRET or DEVX_TREE_SECRET_FILE; never an argument). Actors "
            "register when they start and are forgotten when they exit or their "
            "connection drops; restarted, it is filled again as they re-register. "
            "The secret authenticates; the traffic is not encrypted: across hosts, "
            "use a WireGuard or SSH tunnel."
        ),
    )
    reg.add_argument(
        "--listen",
        metavar="HOST:PORT",
        required=True,
        help="the address to listen on, the one the trees are given (e.g. 127.0.0.1:1616, or "
        "10.0.0.2:1616 on a WireGuard interface); not a wildcard",
    )
    reg.set_defaults(func=cmd_registrar)
    return parser


def cmd_settings(args: argparse.Namespace) -> int:
    from devx.core import settings

    if not args.check:
        sys.stdout.write(settings.markdown_table())
        return EXIT_OK
    try:
        resolved = settings.resolve()
    except settings.SettingsError as exc:
        _err(f"settings: {exc}")
        return EXIT_USAGE
    for name, value in sorted(resolved.changed().items()):
        if name == "tree_secret":  # a secret is never printed
            value = f"<{len(value)} characters, not shown>"
        print(f"{settings.var(name)}={value!r}")
    print("settings: ok")
    return EXIT_OK


def _seconds(text: str) -> float:
    """A ``--timeout``: a finite number of seconds > 0 (argparse says so otherwise)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is no number of seconds > 0")
    return value


def _count(text: str) -> int:
    """A ``--width``: a whole number >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is no whole number >= 0")
    return int(text)


def _host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    # a port the trees can be given: not 0 (any free port), none past 65535
    if not sep or not port.isdigit() or not host or not 0 < int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


def cmd_registrar(args: argparse.Namespace) -> int:
    addr = _host_port(args.listen)
    if addr is None:
        _err(
            f"registrar: --listen {args.listen!r}: expected HOST:PORT with a port of 1 to "
            "65535, e.g. 127.0.0.1:1616"
        )
        return EXIT_USAGE
    if addr[0] in ("", "0.0.0.0", "::"):
        _err(
            f"registrar: --listen {args.listen}: a wildcard is no address the trees can be "
            "given: give the one they reach this host at (127.0.0.1, or e.g. its WireGuard "
            "interface's 10.0.0.2)"
        )
        return EXIT_USAGE
    from devx.core import settings
    from devx.runtime import tree_secret

    try:
        current = settings.resolve()
        shared = tree_secret.shared(current)
        if shared:
            tree_secret.resolve(current)
    except ValueError as exc:
        _err(f"registrar: {exc}")
        return EXIT_USAGE
    if not shared:
        _err(
            "registrar: no tree secret: set DEVX_TREE_SECRET (or DEVX_TREE_SECRET_FILE) to "
            "the secret the trees share; without it no other tree could register here"
        )
        return EXIT_USAGE
    import trio

    import devx

    async def serve() -> None:
        async with devx.open_root_actor(
            "registrar", registry_addrs=[addr], listen_addr=addr, telemetry="off"
        ) as actor:
            host, port = actor.listen_addr if isinstance(actor.listen_addr, tuple) else addr
            print(f"devx registrar: listening on {host}:{port}", flush=True)
            await trio.sleep_forever()

    try:
        trio.run(serve)
    except OSError as exc:
        _err(f"registrar: cannot listen on {addr[0]}:{addr[1]}: {exc.strerror or exc}")
        return EXIT_INCOMPLETE
    except ValueError as exc:  # refused before listening (a wildcard address)
        _err(f"registrar: --listen {args.listen}: {exc}")
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``devx`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from devx.core.settings import SettingsError

    try:
        code = int(func(args))
        sys.stdout.flush()  # a reader that left (`devx ps | head`) shows here, not at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader left: no traceback, as `ps | head` gives none
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush too
        os.close(devnull)
        return 128 + 13  # as a shell reports a tool SIGPIPE ended: no documented exit code
    except SettingsError as exc:  # a bad DEVX_* value: one line, not a traceback
        _err(f"{exc} (`devx settings --check` validates them all)")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
