"""The root crashes: a post-mortem REPL at the raising frame, then the error exits."""

import trio

import devx


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        data = {"answer": 42}
        print(data["question"])


if __name__ == "__main__":
    trio.run(main)
