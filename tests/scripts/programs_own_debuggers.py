"""Debuggers that are the program's own, not a person's way into pdb, inside a
debug-mode root: a bdb tracer that is no pdb (a line recorder starting with
self.set_trace(), as coverage- or profiler-like tools do) and a pdb given its own stdin
(scripted from a string; a remote pdb on a socket is the same). Each must work as it
does outside any tree; prints what each saw."""

from __future__ import annotations

import bdb
import io
import pdb
import sys

import trio

import devx


class LineRecorder(bdb.Bdb):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def user_line(self, frame) -> None:  # type: ignore[no-untyped-def]
        if frame.f_code.co_name == "work":
            self.lines.append(frame.f_lineno - work.__code__.co_firstlineno)
        self.set_step()


def work() -> int:
    a = 1
    b = a + 1
    return b


def recorded() -> list[int]:
    rec = LineRecorder()
    rec.set_trace()
    work()
    sys.settrace(None)
    return rec.lines


def scripted() -> str:
    out = io.StringIO()
    debugger = pdb.Pdb(stdin=io.StringIO("p 6 * 7\nc\n"), stdout=out, nosigint=True)
    debugger.use_rawinput = False
    debugger.set_trace()
    return "42" if "42" in out.getvalue() else out.getvalue()


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        print("in the tree: recorder", recorded(), "scripted", scripted(), flush=True)


print("outside: recorder", recorded(), "scripted", scripted(), flush=True)
trio.run(main)
