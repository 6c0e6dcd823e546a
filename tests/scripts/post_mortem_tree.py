"""devx.post_mortem() in an ``except`` block, in a child and in the root: a REPL at
the raising frame, then the code goes on after the ``except``."""

import trio

import devx


async def careful(a: int, b: int) -> str:
    ratio = None
    try:
        ratio = a / b
    except ZeroDivisionError:
        await devx.post_mortem()
    return f"child went on, ratio={ratio}"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(careful, name="careful", a=1, b=0)
        print(f"root got: {await portal.result()}", flush=True)
        try:
            {}["missing"]
        except KeyError:
            await devx.post_mortem()
        try:
            await devx.post_mortem()
        except ValueError as err:
            print(f"root: outside an except block: {err}", flush=True)
    print("root: done", flush=True)


if __name__ == "__main__":
    trio.run(main)
