"""Hang-hunting without the actor runtime: a tree of plain trio processes whose
stand-in "actor" objects give ``devx.debug.stack.actor_lifetime`` what it needs
(lineage, ``child_procs()``), so one ``kill -USR1 <root pid>`` dumps every process.

It exists to exercise and benchmark the dump relay on its own (tests, bench); real
programs get the same from ``devx.open_nursery(enable_stack_on_sig=True)``.

    python examples/hang/plain_tree.py --size 8 --shape nested --block n3
    devx dump plain_tree        # or: kill -USR1 <root pid>

Each process prints ``READY <path> <pid>`` once its handler is installed. Nodes are
numbered breadth-first; ``--block NAME`` makes that node block its trio loop in a
sync ``time.sleep`` (the fallback dump path).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

import trio

from devx.debug.stack import actor_lifetime
from devx.runtime.msgs import ActorID, Lineage, RuntimeConfig


class StandInActor:
    """The few attributes of ``devx.runtime.actor.Actor`` the dump handler reads."""

    def __init__(self, lineage: Lineage) -> None:
        self.lineage = lineage
        self.config = RuntimeConfig(enable_stack_on_sig=True)
        self.procs: list[trio.Process] = []

    name = property(lambda self: self.lineage.uid.name)
    uid = property(lambda self: self.lineage.uid)
    path = property(lambda self: self.lineage.path)
    pid = property(lambda self: self.lineage.pid)
    is_root = property(lambda self: self.lineage.parent_uid is None)

    def child_procs(self) -> list[trio.Process]:
        return [p for p in self.procs if p.returncode is None]


def children_of(index: int, size: int, shape: str) -> list[int]:
    if shape == "flat":
        return list(range(1, size)) if index == 0 else []
    return [c for c in (2 * index + 1, 2 * index + 2) if c < size]


def say(line: str) -> None:
    """One write per line: the whole tree shares this stdout."""
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


async def hang_forever() -> None:
    await trio.sleep_forever()


async def block_loop() -> None:
    await trio.sleep(0.2)  # let READY go out and the siblings start first
    say(f"BLOCKING {os.getpid()}")
    time.sleep(3600)  # a sync call: the trio loop is stuck here


async def node(args: argparse.Namespace) -> None:
    name = "root" if args.index == 0 else f"n{args.index}"
    me = ActorID(name, uuid.uuid4().hex)
    root = me if args.index == 0 else ActorID(*args.root.split(":"))
    parent = None if args.index == 0 else ActorID(*args.parent.split(":"))
    lineage = Lineage(
        uid=me,
        parent_uid=parent,
        root_uid=root,
        path=name if args.index == 0 else f"{args.parent_path}/{name}",
        pid=os.getpid(),
        parent_pid=os.getppid(),
    )
    actor = StandInActor(lineage)
    async with actor_lifetime(actor), trio.open_nursery() as nursery:
        for child in children_of(args.index, args.size, args.shape):
            argv = [
                sys.executable,
                os.path.abspath(__file__),
                f"--index={child}",
                f"--size={args.size}",
                f"--shape={args.shape}",
                f"--root={root.name}:{root.uuid}",
                f"--parent={me.name}:{me.uuid}",
                f"--parent-path={lineage.path}",
                *([f"--block={args.block}"] if args.block else []),
            ]
            actor.procs.append(await trio.lowlevel.open_process(argv))
        say(f"READY {lineage.path} {os.getpid()}")
        nursery.start_soon(hang_forever, name="hang_forever")
        if args.block == name:
            nursery.start_soon(block_loop, name="block_loop")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=5, help="number of processes")
    p.add_argument("--shape", choices=("flat", "nested"), default="nested")
    p.add_argument("--block", default="", help="node name (root, n1, ...) to block")
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--root", default="", help=argparse.SUPPRESS)
    p.add_argument("--parent", default="", help=argparse.SUPPRESS)
    p.add_argument("--parent-path", default="", help=argparse.SUPPRESS)
    args: Any = p.parse_args(argv)
    try:
        trio.run(node, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
