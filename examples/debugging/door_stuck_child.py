"""Three ctrl-c end a tree with a child stuck in sync code (a sleep of 1000 s, a
busy loop: no trio checkpoint), as one ctrl-c with no REPL would. Modes:

- ``holder``: the child "stuck" pauses; its user steps (`n`) over a call that blocks
  its loop, so no prompt is on screen while it holds the terminal; the child
  "waiter" waits for its turn.
- ``bystander``: the child "busy" spins in a busy loop (no REPL); the child "stepper"
  pauses and its user steps (`n`) over a long trio sleep (no prompt on screen).

Three ctrl-c within 2 s end the tree: the stuck child cannot take the cancel, so it
is SIGTERMed after the grace (then SIGKILLed), with a line naming it. Given GO_FILE,
the holder's blocking call returns once that file shows up: its step is dropped (no
prompt comes back on the way out) and the child takes the cancel by itself.

    python examples/debugging/door_stuck_child.py holder|bystander [PIDFILE [GO_FILE]]
"""

import os
import sys
import termios
import time
from functools import partial

import trio

import devx
from devx.debug import tree_lock


def pid() -> int:
    return os.getpid()


def block_forever(go: str) -> None:
    print(f"stuck blocks its loop (pid {os.getpid()})", flush=True)
    if not go:
        time.sleep(1000)
        return
    while not os.path.exists(go):
        time.sleep(0.02)
    print("stuck unblocked", flush=True)


def spin_forever() -> None:
    print(f"busy spins (pid {os.getpid()})", flush=True)
    while True:
        pass


async def stuck(go: str) -> None:
    await devx.pause()
    block_forever(go)
    print("stuck goes on", flush=True)  # where a step over the call stops


async def nap() -> None:
    print("stepper naps", flush=True)
    await trio.sleep(1000)


async def stepper() -> None:
    await devx.pause()
    await nap()


async def wait_and_pause() -> None:
    while True:  # queue behind stuck's REPL
        holder = tree_lock.view.state.holder
        if holder is not None and holder.name == "stuck":
            break
        await trio.sleep(0.01)
    await devx.pause()


async def main(mode: str, pidfile: str, go: str) -> None:
    first, second = ("stuck", "waiter") if mode == "holder" else ("busy", "stepper")
    try:
        async with devx.open_nursery(debug_mode=True) as an:
            one = await an.start_actor(first, enable_modules=["__main__"])
            two = await an.start_actor(second, enable_modules=["__main__"])
            if pidfile:
                with open(pidfile, "w") as f:
                    f.write(f"{os.getpid()} {await one.run(pid)} {await two.run(pid)}\n")
            async with trio.open_nursery() as nursery:
                if mode == "holder":
                    nursery.start_soon(partial(one.run, stuck, go=go))
                    nursery.start_soon(two.run, wait_and_pause)
                else:
                    nursery.start_soon(one.run, spin_forever)
                    nursery.start_soon(two.run, stepper)
    finally:
        if sys.stdin.isatty():
            lflag = termios.tcgetattr(sys.stdin)[3]
            echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
            print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], *[*sys.argv[2:4], "", ""][:2])
