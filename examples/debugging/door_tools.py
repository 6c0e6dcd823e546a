"""The other debuggers and shells people reach for, in a debug-mode tree: each goes
through the tree's TTY lock, one on the terminal at a time.

    python examples/debugging/door_tools.py WAY [root|child|two]

Ways (install the tool first: `pip install ipdb pudb`):
- ipdb (`ipdb.set_trace()`), ipdb_post_mortem (`ipdb.post_mortem()` in an `except`):
  devx's REPL, its banner saying it stands for IPython's debugger;
- pudb (`pudb.set_trace()`), pudb_post_mortem (`pudb.post_mortem()`): devx's REPL,
  its banner saying why pudb's full-screen UI does not open (PUDB_TTY=/dev/pts/N
  gives pudb a terminal of its own, left alone);
- embed (`IPython.embed()`): IPython's own shell, holding the tree's terminal until
  you leave it (`exit`, ctrl-d);
- breakpoint (`breakpoint()`): run with PYTHONBREAKPOINT=ipdb.set_trace or
  pudb.set_trace, which reach the same doors.

Where: root (the root actor's main task), child (one child, serving a context stream
while the root reads it), two (that child and another one at once).
"""

import sys
import termios

import trio

import devx


def crash() -> None:
    _ = 1 / 0


def way_in(kind: str) -> int:
    x = 41
    if kind == "ipdb":
        import ipdb

        ipdb.set_trace()
    elif kind == "ipdb_post_mortem":
        import ipdb

        try:
            crash()
        except ZeroDivisionError:
            ipdb.post_mortem()
    elif kind == "pudb":
        import pudb

        pudb.set_trace()
    elif kind == "pudb_post_mortem":
        import pudb

        try:
            crash()
        except ZeroDivisionError:
            pudb.post_mortem()
    elif kind == "embed":
        from IPython import embed

        embed(colors="nocolor")
    elif kind == "breakpoint":
        breakpoint()
    y = x + 1
    return y


@devx.context
async def squares(ctx: devx.Context, kind: str, n: int) -> int:
    """A child's work: stream squares to the caller, going in by ``kind`` half way."""
    await ctx.started(n)
    got = 0
    async with ctx.open_stream() as stream:
        for i in range(n):
            if i == n // 2:
                got = way_in(kind)
            await stream.send(i * i)
    return got


async def main(kind: str, where: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            print(f"root: {kind} done ({way_in(kind)})", flush=True)
        else:
            names = ("one", "two") if where == "two" else ("one",)
            portals = {
                name: await an.start_actor(name, enable_modules=["__main__"]) for name in names
            }
            # printed once all are done: the root's own print while another actor's
            # REPL is live could land inside its prompt
            outcomes: dict[str, str] = {}
            async with trio.open_nursery() as nursery:
                for name in names:

                    async def run(name: str = name) -> None:
                        async with portals[name].open_context(squares, kind=kind, n=4) as (
                            ctx,
                            _,
                        ):
                            async with ctx.open_stream() as stream:
                                seen = [v async for v in stream]
                            got = await ctx.result()
                        outcomes[name] = f"{kind} done ({got}), streamed {seen}"

                    nursery.start_soon(run)
            for name, outcome in sorted(outcomes.items()):
                print(f"{name}: {outcome}", flush=True)
            await an.cancel()
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)
    print("door_tools: all done", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "child")
