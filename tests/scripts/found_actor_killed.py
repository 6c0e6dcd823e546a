"""An actor found by name (a connection through its listener, as to another tree's)
dies during a call: print what the caller's error says, ``ERROR <pid> <text>``."""

import os
import signal

import trio

import devx


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def pid() -> int:
    return os.getpid()


async def main() -> None:
    try:
        await serve()
    except devx.ActorExited as exc:  # svc was a child of this tree: it died
        print(f"EXITED {exc}", flush=True)


async def serve() -> None:
    async with devx.open_nursery() as an:
        await an.start_actor("svc", enable_modules=[__name__])
        async with devx.find_actor("svc", raise_on_none=True) as portal:
            svc = await portal.run(pid)
            try:
                await portal.run(die)
            except devx.ChannelClosed as exc:
                print(f"ERROR {svc} {exc}", flush=True)
        await an.cancel()


if __name__ == "__main__":
    trio.run(main)
