"""A breakpoint set in one task's REPL and reached by *another* task (or a thread)
of the same actor, while a second actor holds the terminal: the stop waits for its
turn and opens its own REPL, with its own banner, once the holder's REPL ends.

    python examples/debugging/door_breakpoint.py [task|thread]

In the `bp` actor's first REPL type `b hit_me` (or `tbreak hit_me`, or
`b hit_me, k == 2`), then `c`. `hit_me(1)` and `hit_me(2)` are then called by
another task (or a new thread) once the `holder` actor holds the terminal.
"""

import sys
import termios
import threading

import trio

import devx
from devx.debug import tree_lock


def hit_me(k: int) -> int:
    doubled = k * 2
    return doubled


async def holder_has_terminal(name: str) -> None:
    """Until actor ``name`` holds the terminal (what the root last pushed)."""
    while True:
        holder = tree_lock.view.state.holder
        if holder is not None and holder.name == name:
            return
        await trio.sleep(0.01)


def hit_twice(out: list[int]) -> None:
    out.extend(hit_me(k) for k in (1, 2))


async def bp(mode: str) -> list[int]:
    armed = trio.Event()
    got: list[int] = []

    async def setter() -> None:
        await devx.pause()  # the user sets the breakpoint here, then `c`
        armed.set()

    async def hitter() -> None:
        await armed.wait()
        await holder_has_terminal("holder")
        if mode == "thread":
            t = threading.Thread(target=hit_twice, args=(got,), name="hitter-thread")
            t.start()
            await trio.to_thread.run_sync(t.join)
        else:
            hit_twice(got)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(setter)
        nursery.start_soon(hitter)
    return got


async def hold() -> str:
    await holder_has_terminal("bp")  # queue behind bp's first REPL
    await devx.pause()
    return "holder done"


async def main(mode: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        bp_portal = await an.start_actor("bp", enable_modules=["__main__"])
        holder = await an.start_actor("holder", enable_modules=["__main__"])
        async with trio.open_nursery() as nursery:

            async def run_bp() -> None:
                print(f"bp got {await bp_portal.run(bp, mode=mode)}", flush=True)

            nursery.start_soon(run_bp)
            print(await holder.run(hold), flush=True)
        await an.cancel()
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "task")
