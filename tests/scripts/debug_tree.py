"""A debug-mode child pauses, then another crashes, in a tree whose root may run
another transport or debug_mode than the default.

    python debug_tree.py [--transport tcp|uds] [--root-debug on|off]

The children are always in debug mode; with ``--root-debug off`` the root is not
(its children's REPLs still take the root's TTY lock, and the root opens none).
"""

import argparse

import trio

import devx


async def pause_with_a_secret() -> str:
    secret = 42
    await devx.pause()
    return f"pauser resumed with secret={secret}"


async def divide(a: int, b: int) -> float:
    return a / b


async def main(transport: str, root_debug: bool) -> None:
    async with devx.open_nursery(debug_mode=root_debug, transport=transport) as an:
        addr = devx.current_actor().listen_addr
        kind = "a unix socket" if isinstance(addr, str) else "tcp"
        print(f"root: debug_mode={root_debug}, listening on {kind}", flush=True)
        pauser = await an.run_in_actor(pause_with_a_secret, name="pauser", debug_mode=True)
        print(f"root got: {await pauser.result()}", flush=True)
        await an.run_in_actor(divide, name="divider", debug_mode=True, a=1, b=0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="tcp")
    parser.add_argument("--root-debug", default="on")
    args = parser.parse_args()
    trio.run(main, args.transport, args.root_debug == "on")
