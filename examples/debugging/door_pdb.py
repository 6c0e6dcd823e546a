"""The ways into pdb people type by habit, in a debug-mode tree: each one goes
through the tree's TTY lock with devx's banner and REPL, as breakpoint() does.

    python examples/debugging/door_pdb.py WAY [root|child|two|plain|refused]

Ways: set_trace (`import pdb; pdb.set_trace()`), from_import (`set_trace()` from a
`from pdb import set_trace` at the top of this script, before the runtime),
pdbp (`pdbp.set_trace()`), instance (`pdb.Pdb().set_trace()`), mk_pdb
(`devx.debug.mk_pdb().set_trace()`), post_mortem (`pdb.post_mortem()` in an
`except`), post_mortem_tb (`pdb.post_mortem(tb)`), pm (`pdb.pm()` after an error),
pdbp_post_mortem (`pdbp.post_mortem()`), thread (`pdb.set_trace()` in a
trio.to_thread worker), none (no way in: for `python -m pdb door_pdb.py none root`
with `b doubled`, a stop of a pdb that traces the root, which waits for its turn).

Where: root (the root actor's main task), child (one child), two (two children at
once: one prompt on screen at a time), plain (a tree with debug_mode=False: plain
pdb, untouched), refused (a debug_mode=False child of a debug tree: one line, no REPL).
"""

import sys
import termios
from pdb import set_trace  # before the runtime started

import trio

import devx


def doubled(k: int) -> int:
    return k * 2


def crash() -> None:
    _ = 1 / 0


def sync_way(kind: str) -> int:
    x = 41
    if kind == "set_trace":
        import pdb

        pdb.set_trace()
    elif kind == "from_import":
        set_trace()
    elif kind == "pdbp":
        import pdbp

        pdbp.set_trace()
    elif kind == "instance":
        import pdb

        pdb.Pdb().set_trace()
    elif kind == "mk_pdb":
        devx.debug.mk_pdb().set_trace()
    elif kind in ("post_mortem", "post_mortem_tb", "pm", "pdbp_post_mortem"):
        import pdb

        import pdbp

        try:
            crash()
        except ZeroDivisionError:
            if kind == "post_mortem":
                pdb.post_mortem()
            elif kind == "post_mortem_tb":
                pdb.post_mortem(sys.exc_info()[2])
            elif kind == "pdbp_post_mortem":
                pdbp.post_mortem()
            else:
                sys.last_type, sys.last_value, sys.last_traceback = sys.exc_info()
                sys.last_exc = sys.last_value  # (what pm() reads on 3.12+)
        if kind == "pm":
            pdb.pm()
    y = doubled(x)
    return y + 1 - 42


async def way(kind: str) -> str:
    if kind == "thread":
        got = await trio.to_thread.run_sync(sync_way, "set_trace")
    else:
        got = sync_way(kind)
    return f"{kind} done ({got})"


async def main(kind: str, where: str) -> None:
    debug = where != "plain"
    async with devx.open_nursery(debug_mode=debug) as an:
        if where == "root":
            print(f"root: {await way(kind)}", flush=True)
        else:
            names = ("one", "two") if where == "two" else ("one",)
            portals = {
                name: await an.start_actor(
                    name, enable_modules=["__main__"], debug_mode=where != "refused" and debug
                )
                for name in names
            }
            # printed once all are done: the root's own print while another actor's
            # REPL is live could land inside its prompt
            outcomes: dict[str, str] = {}
            async with trio.open_nursery() as nursery:
                for name in names:

                    async def run(name: str = name) -> None:
                        outcomes[name] = await portals[name].run(way, kind=kind)

                    nursery.start_soon(run)
            for name, outcome in sorted(outcomes.items()):
                print(f"{name}: {outcome}", flush=True)
            await an.cancel()
    if sys.stdin.isatty():
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)
    print("door_pdb: all done", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "child")
