"""The process's first REPL is a post-mortem (devx.post_mortem() in an except block of a
loop); a `b` set there must stop the loop's next turn at that line."""

import trio

import devx


def work(i: int) -> float:
    x = i  # line 10: the breakpoint's line
    return 1 / x


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        for i in range(2):
            try:
                print("RESULT", work(i), flush=True)
            except ZeroDivisionError:
                await devx.post_mortem()
    print("DONE", flush=True)


if __name__ == "__main__":
    trio.run(main)
