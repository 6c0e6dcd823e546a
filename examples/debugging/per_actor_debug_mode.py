"""debug_mode per actor: the 'plain' child (debug_mode=False) crashes without a
REPL of its own; the debug-mode root then opens one on the boxed error. With
`breakpoint`, the plain child calls breakpoint(): skipped with a line (it cannot take
the tree's TTY lock, so a bare pdb there would read the terminal beside the tree's
REPLs), and it goes on; `import`: the same at the top level of a module it imports.

    python examples/debugging/per_actor_debug_mode.py [breakpoint|import]
"""

import sys

import trio

import devx


async def fail() -> None:
    raise KeyError("no REPL in this actor")


async def stop_here() -> int:
    x = 3
    breakpoint()
    return x


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if sys.argv[1:] == ["breakpoint"]:
            p = await an.run_in_actor(stop_here, name="plain", debug_mode=False)
            print(f"plain returned {await p.result()}", flush=True)
        elif sys.argv[1:] == ["import"]:  # a breakpoint() in a module it imports at boot
            p = await an.start_actor(
                "plain", enable_modules=["_import_breakpoint"], debug_mode=False
            )
            print(f"plain returned {await p.run_from_ns('_import_breakpoint', 'get')}", flush=True)
            await an.cancel()
        else:
            await an.run_in_actor(fail, name="plain", debug_mode=False)


if __name__ == "__main__":
    trio.run(main)
