"""A `breakpoint()` at the top level of a module a child imports as it boots
(`enable_modules`): the tree's REPL in that child, under the lock, however long you
stay (the boot's DEVX_BOOT_TIMEOUT waits for the REPL); without a terminal it is
skipped and the boot goes on. `grandchild`: the module is a grandchild's."""

import sys
import termios

import trio

import devx


async def start_and_get() -> int:
    async with devx.open_nursery() as an:
        p = await an.start_actor("w", enable_modules=["_import_breakpoint"])
        got = await p.run_from_ns("_import_breakpoint", "get")
        await an.cancel()
    return got


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if sys.argv[1:] == ["grandchild"]:
            p = await an.run_in_actor(start_and_get, name="mid")
            got = await p.result()
        else:
            got = await start_and_get()
    print(f"got {got}", flush=True)
    if sys.stdin.isatty():  # what the terminal was left in, as `stty -a` would say
        lflag = termios.tcgetattr(sys.stdin)[3]
        echo, icanon = bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)
        print(f"terminal: echo={echo} icanon={icanon}", flush=True)


if __name__ == "__main__":
    trio.run(main)
