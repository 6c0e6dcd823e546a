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
    results: dict[int, int] = {}
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        portals = [await an.run_in_actor(pause_once, name=f"p{k}", k=k) for k in (1, 2)]

        async def reap(i: int, portal: devx.Portal) -> None:
            results[i] = await portal.result()
            await portal.cancel_actor()  # its process ends now, not with the block

        async with trio.open_nursery() as n:
            for i, portal in enumerate(portals):
                n.start_soon(reap, i, portal)
    print(f"returned {[results[i] for i in sorted(results)]}", flush=True)


if __name__ == "__main__":
    trio.run(main)
