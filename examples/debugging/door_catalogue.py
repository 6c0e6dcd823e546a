"""Two ways into pdb at once, in two actors: every way goes through the tree's TTY
lock, so there is never more than one REPL reading the terminal.

    python examples/debugging/door_catalogue.py WAY_OF_ONE WAY_OF_TWO

Ways: pause, breakpoint (the builtin), thread (pause_from_sync in a worker thread),
post_mortem, crash, bp_task (a `b hit_me` set in the first REPL, hit by another
task), step (`n` over an await that outlasts the other actor's wait), pdb_set_trace
(`import pdb; pdb.set_trace()`), pdb_post_mortem (`pdb.post_mortem()` in an `except`).
"""

import sys

import trio

import devx

WAYS = (
    "pause",
    "breakpoint",
    "thread",
    "post_mortem",
    "crash",
    "bp_task",
    "step",
    "pdb_set_trace",
    "pdb_post_mortem",
)


def hit_me(k: int) -> int:
    doubled = k * 2
    return doubled


def sync_pause() -> str:
    devx.pause_from_sync()
    return "thread paused"


async def way(kind: str) -> str:
    if kind == "pause":
        await devx.pause()
    elif kind == "breakpoint":
        breakpoint()
    elif kind == "thread":
        await trio.to_thread.run_sync(sync_pause)
    elif kind == "post_mortem":
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            await devx.post_mortem()
    elif kind == "crash":
        raise ValueError("crash on purpose")
    elif kind == "bp_task":
        armed = trio.Event()

        async def setter() -> None:
            await devx.pause()  # the user types `b hit_me`, then `c`
            armed.set()

        async def hitter() -> None:
            await armed.wait()
            hit_me(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            nursery.start_soon(hitter)
    elif kind == "step":
        await devx.pause()  # the user types `n`: over the sleep below
        await trio.sleep(0.6)
    elif kind == "pdb_set_trace":
        import pdb

        pdb.set_trace()
    elif kind == "pdb_post_mortem":
        import pdb

        try:
            _ = 1 / 0
        except ZeroDivisionError:
            pdb.post_mortem()
    return f"{kind} done"


async def main(one: str, two: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portals = {
            name: await an.start_actor(name, enable_modules=["__main__"]) for name in ("one", "two")
        }
        # printed once both are done: a print of this (root) process while the other
        # actor's REPL is live could land inside its prompt (devx holds back only
        # its own output; the program's is the program's)
        outcomes: dict[str, str] = {}
        async with trio.open_nursery() as nursery:
            for name, kind in (("one", one), ("two", two)):

                async def run(name: str = name, kind: str = kind) -> None:
                    try:
                        outcomes[name] = await portals[name].run(way, kind=kind)
                    except devx.RemoteActorError as exc:
                        outcomes[name] = f"raised {exc.boxed_type_name}"

                nursery.start_soon(run)
        await an.cancel()
    for name, outcome in sorted(outcomes.items()):
        print(f"{name}: {outcome}", flush=True)
    print("catalogue: both done", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
