"""bench_door's target: a child actor whose stepping task's `n` lands on a breakpoint
hit by another task (``door``), or plain `n` over ordinary lines only (``plain``)."""

import sys

import trio

import devx


def hit_me(k: int) -> int:
    return k


async def stepper(
    turns: int, go: trio.MemorySendChannel[int], done: trio.MemoryReceiveChannel[int]
) -> None:
    await devx.pause()
    for i in range(turns):
        go.send_nowait(i)
        await done.receive()
    go.close()


async def hitter(go: trio.MemoryReceiveChannel[int], done: trio.MemorySendChannel[int]) -> None:
    async for i in go:
        hit_me(i)
        done.send_nowait(i)


async def plain(turns: int) -> None:
    total = 0
    await devx.pause()
    for i in range(turns):
        total += i
        total -= 1
    print(f"total {total}", flush=True)


async def bp(turns: int) -> None:
    go_send, go_recv = trio.open_memory_channel[int](1)
    done_send, done_recv = trio.open_memory_channel[int](1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stepper, turns, go_send, done_recv)
        nursery.start_soon(hitter, go_recv, done_send)


async def main(mode: str, turns: int) -> None:
    async with devx.open_nursery(debug_mode=True) as an:
        portal = await an.start_actor("bp", enable_modules=["__main__"])
        await portal.run(bp if mode == "door" else plain, turns=turns)
        await an.cancel()
    print("target done", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]))
