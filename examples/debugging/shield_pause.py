"""pause(shield=True) inside an already cancelled scope still gets its REPL."""

import trio

import devx


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        with trio.CancelScope() as cs:
            cs.cancel()
            await devx.pause(shield=True)
            print("after the shielded pause", flush=True)
            await trio.sleep(0)  # cancelled here, as the scope says
            print("never printed", flush=True)
        print(f"scope cancelled: {cs.cancelled_caught}", flush=True)


if __name__ == "__main__":
    trio.run(main)
