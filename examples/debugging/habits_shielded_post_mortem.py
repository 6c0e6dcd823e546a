"""`post_mortem(shield=True)` inside a cancelled scope opens its REPL, as
`pause(shield=True)` does (without `shield` the wait for the lock is cancelled).

    python examples/debugging/habits_shielded_post_mortem.py
"""

import trio

import devx


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                answer = 42
                raise ValueError(f"the answer was {answer}")
            except ValueError:
                await devx.post_mortem(shield=True)
        print("root: after the shielded post-mortem", flush=True)


if __name__ == "__main__":
    trio.run(main)
