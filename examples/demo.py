"""The devx demo: an actor tree doing real work, the debugger in its child processes,
and the debugging session read back as telemetry.

    make demo

1. Two workers (one spawns a helper of its own) are called across processes.
2. worker-a stops at ``await devx.pause()``: you get a pdbp REPL in that child
   (try ``p total``, ``ll``, then ``c``).
3. worker-b divides by zero: a post-mortem REPL opens in worker-b at the raising
   frame (``p a, b``, then ``c``), then the error arrives in the root boxed as a
   RemoteActorError with its remote traceback.
4. The tree's telemetry (OTLP/JSON lines in a local file, no server needed) is read
   back: who held the terminal, when, and what crashed.

With stdin not a terminal (piped, CI) the REPLs are announced and skipped, and the
rest runs the same.
"""

from __future__ import annotations

import os
import sys
import tempfile

import trio

import devx


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


async def where_am_i() -> str:
    actor = devx.current_actor()
    return f"{actor.path} (pid {os.getpid()}, parent {actor.parent_uid})"


async def delegate(n: int) -> list[str]:
    """Runs in 'worker-b': spawn a helper of our own and ask it too."""
    async with devx.open_nursery() as an:
        helper = await an.start_actor("helper", enable_modules=[__name__])
        return [await where_am_i(), await helper.run(where_am_i), str(await helper.run(fib, n=n))]


async def tally(prices: list[float]) -> float:
    """Runs in 'worker-a' and stops halfway for a look around."""
    total = sum(prices)
    await devx.pause()  # the REPL stops here, in worker-a's process: `p total`, `c`
    return round(total * 1.2, 2)


async def divide(a: float, b: float) -> float:
    return a / b


def step(text: str) -> None:
    print(f"\n=== {text}", flush=True)


async def main(telemetry_file: str) -> None:
    async with devx.open_nursery(name="demo", debug_mode=True, telemetry=telemetry_file) as an:
        a = await an.start_actor("worker-a", enable_modules=[__name__])
        b = await an.start_actor("worker-b", enable_modules=[__name__])

        step("1. a process tree")
        print("root:    ", await where_am_i())
        print("worker-a:", await a.run(where_am_i))
        print("fib(80) computed in worker-a:", await a.run(fib, n=80))
        for line in await b.run(delegate, n=30):
            print("worker-b tree:", line)

        step("2. worker-a pauses: a REPL in the child (try `p total`, `ll`, then `c`)")
        print("worker-a returned", await a.run(tally, prices=[9.5, 20.0, 12.25]))

        step("3. worker-b divides by zero: post-mortem in worker-b (`p a, b`, then `c`)")
        try:
            await b.run(divide, a=1, b=0)
        except devx.RemoteActorError as err:
            print(f"the root caught {type(err).__name__} (boxed {err.boxed_type.__name__}):")
            print(err)
        print("\nworker-b still serves calls afterwards: fib(10) =", await b.run(fib, n=10))
    print("\nthe tree exited; no process is left behind.", flush=True)


def show_timeline(path: str) -> None:
    from devx.telemetry.timeline import render

    step(f"4. the session as telemetry ({path})")
    print(render(path))
    print(f"\nthe same from a shell: devx timeline {path}")
    print(
        "or see it in Jaeger: docker compose up -d, then\n"
        "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 python examples/demo.py"
    )


if __name__ == "__main__":
    path = os.path.join(tempfile.gettempdir(), f"devx-demo-{os.getpid()}.otlp.jsonl")
    try:
        trio.run(main, path)
    except (Exception, KeyboardInterrupt) as exc:
        # `q` (or ctrl-d) at a REPL ends the tree, as in pdb; the session is on record
        # all the same: the usual report of the quit, then its timeline
        sys.excepthook(type(exc), exc, exc.__traceback__)
        sys.stdout.flush()
        show_timeline(path)
        sys.exit(1)
    sys.stdout.flush()
    show_timeline(path)
