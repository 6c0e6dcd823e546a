"""debug_mode per actor: the 'plain' child (debug_mode=False) crashes without a
REPL of its own; the debug-mode root then opens one on the boxed error."""

import trio

import devx


async def fail() -> None:
    raise KeyError("no REPL in this actor")


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        await an.run_in_actor(fail, name="plain", debug_mode=False)


if __name__ == "__main__":
    trio.run(main)
