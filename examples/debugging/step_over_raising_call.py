"""`n` over a call into devx or trio that raises, an error the code catches: the
step stops on the line with the error (as pdb does), `n` goes on into the `except`.
The call: a remote call whose callee fails (a non-debug actor: no REPL of its own),
then trio's sleep with a bad argument.

    python examples/debugging/step_over_raising_call.py [root|child]
"""

import sys

import trio

import devx


def fails() -> None:
    raise ValueError("the callee failed on purpose")


async def caller() -> str:
    async with devx.open_nursery() as an:
        portal = await an.start_actor("callee", enable_modules=[__name__], debug_mode=False)
        caught = []
        await devx.pause()
        try:
            await portal.run(fails)
        except devx.RemoteActorError as exc:
            caught.append(type(exc).__name__)
        try:
            await trio.sleep(-1)
        except ValueError:
            caught.append("ValueError")
        await portal.cancel_actor()
    return " ".join(caught)


async def main(where: str) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        if where == "root":
            got = await caller()
        else:
            got = await (await an.run_in_actor(caller, name="stepper")).result()
        print(f"caught: {got}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "root")
