"""A pause in a loop keeps its user while a sibling's error tears the tree down:
`c` lets the loop go round to its next pause, and the teardown (which waits for
the tree's terminal to have been quiet for ``DEVX_REPL_SETTLE`` s after each
release) never cancels the looper in between; `q` ends the tree, reporting the
sibling's error with the quit.

    python examples/debugging/settle_pause_loop.py
"""

import atexit
import os
import sys
import termios

import trio

import devx


async def loop_of_pauses() -> None:
    turn = 0
    while True:
        turn += 1
        await devx.pause()
        print(f"looper: turn {turn} done", flush=True)


async def fail_when_told() -> None:
    go = os.environ.get("DEVX_SETTLE_GO")  # tests say when the first prompt is up
    while go and not os.path.exists(go):
        await trio.sleep(0.02)
    if not go:
        await trio.sleep(2)  # a person's pace: the prompt is up by then
    raise RuntimeError("failer went down while the looper was paused")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, loglevel="info") as an:
        looper = await an.start_actor("looper", enable_modules=[__name__])
        await an.run_in_actor(fail_when_told, name="failer", debug_mode=False)
        await looper.run(loop_of_pauses)  # the failer's error cancels this block


def terminal_state() -> None:  # what the terminal was left in, as `stty -a` would say
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    atexit.register(terminal_state)  # runs after the quit's one-line report
    trio.run(main)
