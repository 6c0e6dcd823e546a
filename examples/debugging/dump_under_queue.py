"""A stack dump asked for while one actor's REPL is live and another waits for the
terminal: the holder's line about its dump is written when its REPL ends, before
the next REPL's banner, never among that REPL's lines (the holder's process ends
meanwhile).

    python examples/debugging/dump_under_queue.py   # then, elsewhere: devx dump <pid>
"""

import trio

import devx


async def pause_once(k: int) -> int:
    value = k * 10
    await devx.pause()
    return value


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        portals = [await an.run_in_actor(pause_once, name=f"p{k}", k=k) for k in (1, 2)]
        print(f"returned {[await p.result() for p in portals]}", flush=True)


if __name__ == "__main__":
    trio.run(main)
