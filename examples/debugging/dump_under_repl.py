"""A stack dump asked for while a REPL is live (`devx dump <root pid>` or
`kill -USR1 <root pid>` from another shell) never floods that REPL: each actor's
dump goes to its /tmp file (and telemetry) at once, the `devx dump` client prints
what it was asked for, and this terminal gets one line per actor once the REPL
ends.

    python examples/debugging/dump_under_repl.py   # then, elsewhere: devx dump <pid>
"""

import trio

import devx


async def sit_in_a_repl() -> str:
    before = "paused"
    await devx.pause()
    after = f"{before}, then resumed"
    return f"sitter {after}"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        portal = await an.run_in_actor(sit_in_a_repl, name="sitter")
        print(await portal.result(), flush=True)


if __name__ == "__main__":
    trio.run(main)
