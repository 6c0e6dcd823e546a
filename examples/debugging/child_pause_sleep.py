"""A child pauses while the root waits on it: used for ctrl-c shielding and for `q`."""

import trio

import devx


async def pause_and_report() -> str:
    await devx.pause()
    await trio.sleep(0.1)
    return "child finished"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(pause_and_report, name="pauser")
        print(f"root got: {await portal.result()}", flush=True)


if __name__ == "__main__":
    trio.run(main)
