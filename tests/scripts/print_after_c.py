"""Two children pause at once; after its REPL each computes (sync code: its loop does
not run meanwhile), prints a line, then reaches a checkpoint. The terminal passes on at
that checkpoint: the line comes before the other child's banner, never inside its
prompt (tests/test_debugger.py)."""

import time

import trio
from _terminal_state import print_terminal_state

import devx

COMPUTE_S = 0.3  # long enough that a release sent at `c` would let the banner overtake


async def pause_then_print() -> str:
    name = devx.current_actor().name
    await devx.pause()
    time.sleep(COMPUTE_S)  # sync work: this actor's loop does not run meanwhile
    print(f"{name}: after c\n", end="", flush=True)
    await trio.sleep(0)
    return f"{name} done"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = [await an.start_actor(n, enable_modules=[__name__]) for n in ("a", "b")]
        results: list[str] = []

        async def run(portal: devx.Portal) -> None:
            results.append(await portal.run(pause_then_print))

        async with trio.open_nursery() as n:
            for portal in portals:
                n.start_soon(run, portal)
        print(f"results: {' / '.join(sorted(results))}", flush=True)
        await an.cancel()
    print_terminal_state()


if __name__ == "__main__":
    trio.run(main)
