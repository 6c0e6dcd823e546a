"""The root's REPL while a child streams big items to it: the REPL blocks the root's
loop, so nothing reads the stream and the child's send stalls; however long you stay
at the prompt, the child waits (a REPL is your time) and the stream goes on after `c`.

    python examples/debugging/pause_beside_big_stream.py     # wait a while, then `c`
"""

import trio

import devx

ITEM = b"y" * (1024 * 1024)  # one item fills the socket's buffers


async def big_items():
    for _ in range(100):
        yield ITEM


async def main() -> None:
    got = 0
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("streamer", enable_modules=[__name__])
        first = trio.Event()

        async def pull() -> None:
            nonlocal got
            async with portal.open_stream_from(big_items) as stream:
                async for _ in stream:
                    got += 1
                    first.set()

        async with trio.open_nursery() as n:
            n.start_soon(pull)
            await first.wait()
            await devx.pause()  # stay as long as you like, then `c`
        print(f"root got {got} items", flush=True)


if __name__ == "__main__":
    trio.run(main)
