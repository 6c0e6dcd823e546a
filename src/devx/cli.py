"""The ``devx`` command. Subcommands are small functions registered in
:func:`build_parser`; each returns the process exit code.

``devx dump <pid | pattern>``  signal a running tree and print every actor's stack dump
``devx ps``                    list this user's devx processes that take stack dumps
``devx timeline [FILE]``       who held the terminal and when, read back from telemetry
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devx.debug._stack_registry import Entry

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
    from devx.debug import _stack_registry as reg

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
        cmdline = " ".join(reg.proc_cmdline(e.pid) or ())
        if any(rx.search(s) for s in (cmdline, e.name, e.path) if s):
            out.append(e)
    return out


def _subtree(root: Entry, children: dict[int, list[Entry]]) -> list[Entry]:
    out, todo = [], [root]
    while todo:
        e = todo.pop()
        out.append(e)
        todo.extend(children.get(e.pid, ()))
    return out


def _roots(matched: list[Entry], by_pid: dict[int, Entry]) -> list[Entry]:
    """Drop matches whose ancestor also matched: the ancestor's relay reaches them,
    and signalling both would only be coalesced."""
    pids = {e.pid for e in matched}
    roots = []
    for e in matched:
        seen, up = set(), by_pid.get(e.parent_pid)
        while up is not None and up.pid not in seen and up.pid not in pids:
            seen.add(up.pid)
            up = by_pid.get(up.parent_pid)
        if up is None or up.pid in seen:
            roots.append(e)
    return roots


def _log_candidates(e: Entry) -> list[str]:
    from devx.debug import _stack_registry as reg

    paths = [e.log_path or reg.log_path(e.pid)]
    alt = reg.alt_log_path(e.pid)
    if alt:
        paths.append(alt)
    return paths


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _read_dump(path: str, offset: int, end: str) -> str | None:
    """The first complete dump appended after ``offset``, if any."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    idx = text.find(end)
    return text[: idx + len(end)] if idx >= 0 else None


def cmd_dump(args: argparse.Namespace) -> int:
    from devx.debug import _stack_registry as reg

    entries = reg.entries()
    matched = _match(args.target, entries)
    if matched is None:
        return EXIT_USAGE
    if not matched:
        where = reg.runtime_dir(create=False) or "(no registry directory)"
        _err(
            f"dump: no devx actor of yours with stack dumps enabled matches {args.target!r} "
            f"({len(entries)} registered in {where}). Enable them with "
            "open_root_actor(enable_stack_on_sig=True) or DEVX_ENABLE_STACKSCOPE=1; "
            "`devx ps` lists them. Nothing was signalled."
        )
        return EXIT_NO_MATCH
    by_pid = {e.pid: e for e in entries}
    children: dict[int, list[Entry]] = {}
    for e in entries:
        if e.parent_pid in by_pid and e.parent_pid != e.pid:
            children.setdefault(e.parent_pid, []).append(e)

    # sizes before signalling: each actor's dump is what it appends after them
    pending: dict[int, tuple[Entry, list[tuple[str, int]]]] = {}
    signalled = []
    for root in _roots(matched, by_pid):
        if reg.catches_signal(root.pid, root.signal) is False:
            _err(f"dump: {root.label} is registered but not catching its signal now: skipped")
            continue
        for e in _subtree(root, children):
            if e is root or reg.catches_signal(e.pid, e.signal) is not False:
                pending[e.pid] = (e, [(p, _size(p)) for p in _log_candidates(e)])
        signalled.append(root)
    if not signalled:
        return EXIT_NO_MATCH
    t0 = time.monotonic()
    for root in signalled:
        try:
            os.kill(root.pid, root.signal)
        except OSError as exc:
            _err(f"dump: could not signal {root.label}: {exc}")
            for e in _subtree(root, children):
                pending.pop(e.pid, None)

    got: dict[int, tuple[Entry, str]] = {}
    deadline = t0 + args.timeout
    while pending and time.monotonic() < deadline:
        for pid, (e, logs) in list(pending.items()):
            for path, offset in logs:
                text = _read_dump(path, offset, reg.end_line(pid))
                if text is not None:
                    got[pid] = (e, text)
                    del pending[pid]
                    break
        if pending:
            time.sleep(0.02)
    elapsed = time.monotonic() - t0

    for _pid, (_e, text) in sorted(got.items(), key=lambda kv: kv[1][0].sort_key):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.write("\n")
    sys.stdout.flush()
    total = len(got) + len(pending)
    trees = ", ".join(r.label for r in signalled)
    _err(f"dump: {len(got)}/{total} dumps in {elapsed:.2f} s from {trees}")
    for e, _logs in sorted(pending.values(), key=lambda v: v[0].sort_key):
        _err(
            f"dump: no dump from {e.label} within {args.timeout:g} s "
            "(blocked in C code that holds the GIL? exiting?)"
        )
    return EXIT_OK if not pending else EXIT_INCOMPLETE


# --- devx ps ---------------------------------------------------------------------------


def _tree_lines(entries: Iterable[Entry]) -> list[str]:
    ents = sorted(entries, key=lambda e: e.sort_key)
    lines = []
    for e in ents:
        depth = e.path.count("/") if e.actor else 0
        kind = "" if e.actor else "  [no actor runtime]"
        lines.append(f"{e.pid:>8}  {'  ' * depth}{e.path or e.name}  {e.uid}{kind}")
    return lines


def cmd_ps(args: argparse.Namespace) -> int:
    from devx.debug import _stack_registry as reg

    entries = reg.entries()
    if not entries:
        _err("ps: no devx process of yours has stack dumps enabled")
        return EXIT_NO_MATCH
    print(f"{'PID':>8}  TREE PATH  UID")
    print("\n".join(_tree_lines(entries)))
    return EXIT_OK


# --- devx timeline ---------------------------------------------------------------------


def _want_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def cmd_timeline(args: argparse.Namespace) -> int:
    from devx.telemetry import timeline

    path = args.file
    if path is None:
        where = timeline.telemetry_dir()
        path = timeline.newest_file(where)
        if path is None:
            _err(
                f"timeline: no telemetry file (*.otlp.jsonl) in {where}; pass FILE, e.g. "
                "the path a tree printed as `devx: telemetry written to ...`"
            )
            return EXIT_NO_MATCH
    try:
        text = timeline.render(path, trace_id=args.trace, color=_want_color(args.color))
    except OSError as exc:
        _err(f"timeline: cannot read {path}: {exc.strerror or exc}")
        return EXIT_NO_MATCH
    except timeline.TimelineError as exc:
        _err(f"timeline: {path}: {exc}")
        return EXIT_NO_MATCH
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `devx timeline | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


# --- entry -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devx", description="Tools for devx actor trees: hang dumps, timelines, ..."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    dump = sub.add_parser(
        "dump",
        help="dump the task trees and threads of every actor of a running tree",
        description=(
            "Signal a running devx tree (its actors must have stack dumps enabled) and "
            "print every actor's dump, ordered by tree path. TARGET is a pid, or a regex "
            "matched like `pgrep -f` against command lines (also against actor names and "
            "tree paths) of your own registered devx processes; the topmost matches are "
            "signalled and relay to their subtrees."
        ),
    )
    dump.add_argument("target", metavar="TARGET", help="pid or name pattern")
    dump.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds to wait for every dump (default: %(default)s)",
    )
    dump.set_defaults(func=cmd_dump)

    ps = sub.add_parser("ps", help="list your devx processes that take stack dumps")
    ps.set_defaults(func=cmd_ps)

    tl = sub.add_parser(
        "timeline",
        help="who held the terminal and when: a tree's telemetry file as text",
        description=(
            "Print one tree's debugging session from its telemetry file (OTLP/JSON lines): "
            "its actors, every turn at the terminal (TTY lock holds, REPLs), crashes, "
            "remote errors, stack dumps and exits, timed from the tree's start. FILE "
            "defaults to the newest *.otlp.jsonl in the default telemetry directory "
            "($TMPDIR/devx-telemetry-<uid>/). No trace viewer needed."
        ),
    )
    tl.add_argument("file", metavar="FILE", nargs="?", help="telemetry file (default: newest)")
    tl.add_argument(
        "--trace",
        metavar="ID",
        help="the trace to show when FILE holds several (a unique prefix is enough; "
        "default: the last tree)",
    )
    tl.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default: %(default)s, i.e. on a terminal unless NO_COLOR)",
    )
    tl.set_defaults(func=cmd_timeline)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``devx`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
