"""`n` through a loop of pauses: each pause of the task whose REPL is live
re-enters that REPL in place (no second lock request, no deadlock), and stepping
past the end of the function ends the REPL as `c` would.

    python examples/debugging/habits_step_loop.py [root|child] [turns]
"""

import sys
import termios

import trio

import devx


async def loop_and_pause(turns: int) -> int:
    total = 0
    for i in range(turns):
        await devx.pause()
        total += i
    return total


async def main(where: str, turns: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            total = await loop_and_pause(turns)
        else:
            portal = await an.run_in_actor(loop_and_pause, name="looper", turns=turns)
            total = await portal.result()
        print(f"loop returned {total}", flush=True)
    if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    where = sys.argv[1] if len(sys.argv) > 1 else "child"
    turns = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    trio.run(main, where, turns)
