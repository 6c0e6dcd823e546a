"""The root's own task crashes in a debug tree: a task of a nursery (so greenback's
portal shims sit under its frames) raises; the crash REPL, then the error exits."""

import trio

import devx


def check(order: dict) -> None:
    raise ValueError(f"order {order['id']} has no lines")


async def handle(order: dict) -> None:
    await trio.sleep(0)
    check(order)


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True), trio.open_nursery() as tn:
        tn.start_soon(handle, {"id": 7})


if __name__ == "__main__":
    trio.run(main)
