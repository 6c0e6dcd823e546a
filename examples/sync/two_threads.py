"""Two bare threads of one actor pause at once: one REPL after the other."""

import threading

import trio

import devx


def pauser(n: int, barrier: threading.Barrier) -> None:
    barrier.wait()
    devx.pause_from_sync()
    print(f"thread {n} resumed", flush=True)


async def main() -> None:
    async with devx.open_root_actor(debug_mode=True):
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=pauser, args=(n, barrier), name=f"pauser-{n}", daemon=True)
            for n in range(2)
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            await trio.sleep(0.01)
        print("both threads done", flush=True)


if __name__ == "__main__":
    trio.run(main)
