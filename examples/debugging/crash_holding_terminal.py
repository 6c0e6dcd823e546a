"""A post-mortem inside `acquire_debug_lock()`: the task holds the terminal with no
REPL open, so the crash's REPL opens on that hold (no second request); `devx timeline`
shows the hold's one REPL as the crash's.

    python examples/debugging/crash_holding_terminal.py     # then `c`
"""

import trio

import devx
from devx.debug import acquire_debug_lock


def report(rows: list[int]) -> float:
    return sum(rows) / len(rows)


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        async with acquire_debug_lock():
            try:
                print(f"mean {report([])}", flush=True)
            except ZeroDivisionError:
                await devx.post_mortem()
            print("went on", flush=True)


if __name__ == "__main__":
    trio.run(main)
