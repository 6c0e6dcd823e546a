"""`q` in any REPL ends the whole tree quietly: no parent opens a REPL on a user's
quit, and the one-line report lists every error the tree had before it.

    python examples/debugging/quit_anywhere.py crash|pause|queued

- crash: root -> middle -> leaf, the leaf crashes: its REPL, then the middle's,
  then the root's; `q` in any of them is the last REPL;
- pause: the leaf pauses; `q` there ends the tree;
- queued: the leaf pauses, and its sibling 'crasher' crashes while that REPL is
  live (its crash REPL waits for the terminal); `q` in the leaf: no crash REPL
  opens, the crash is in the quit report.
"""

import atexit
import sys
import termios

import trio

import devx
from devx.debug import tree_lock


async def leaf(mode: str) -> None:
    if mode == "crash":
        raise ValueError("leaf failed on purpose")
    await devx.pause()
    note = "stepped past the pause"
    print(f"leaf resumed: {note}", flush=True)


async def crasher() -> None:
    view = tree_lock.view
    while not view.held:  # the leaf's REPL is live: crash behind it
        await view.changed()
    raise RuntimeError("crasher went down while the leaf was paused")


async def middle(mode: str) -> None:
    async with devx.open_nursery() as an:
        await an.run_in_actor(leaf, name="leaf", mode=mode)
        if mode == "queued":
            await an.run_in_actor(crasher, name="crasher")


async def main(mode: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(middle, name="middle", mode=mode)
    print("tree finished", flush=True)


def terminal_state() -> None:  # what the terminal was left in, as `stty -a` would say
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    atexit.register(terminal_state)  # runs after the quit's one-line report
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "crash")
