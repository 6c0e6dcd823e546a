"""A stack dump while a child's REPL is live, one of the tree's actors blocked in sync
code (a hung worker: the case dumps are for). The blocked actor's loop reads none of
the lock states the root pushes, so it did not know a REPL was live and its full dump
went to the terminal, under the prompt. Driven by tests/test_repl_habits.py: DUMP_GO
(the prompt is up: dump), DUMP_PATHS (where the dumps go), DUMP_UNBLOCK (the blocked
actor goes on)."""

import os
import signal
import time

import trio

import devx
from devx.debug import lock, stack


async def pause_here() -> str:
    await devx.pause()
    return "sitter resumed"


def block_the_loop() -> str:
    unblock = os.environ["DUMP_UNBLOCK"]
    while not os.path.exists(unblock):
        time.sleep(0.02)  # sync: the actor's loop is blocked
    return "blocker resumed"


def blocking_pid() -> int:
    return os.getpid()


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        blocker = await an.start_actor("blocker", enable_modules=[__name__])
        blocked_pid = await blocker.run(blocking_pid)
        sitter = await an.start_actor("sitter", enable_modules=[__name__])
        tty = lock.root_lock()
        async with trio.open_nursery() as tn:

            async def run(portal: devx.Portal, fn: object) -> None:
                print(await portal.run(fn), flush=True)

            tn.start_soon(run, blocker, block_the_loop)
            tn.start_soon(run, sitter, pause_here)
            while tty.holder is None:  # the sitter's REPL is (about to be) live
                await tty.changed()
            go = os.environ["DUMP_GO"]
            while not os.path.exists(go):
                await trio.sleep(0.02)
            os.kill(os.getpid(), signal.SIGUSR1)  # relayed to both children
            paths = [stack.log_path(pid) for pid in (os.getpid(), tty.holder.pid, blocked_pid)]
            with open(os.environ["DUMP_PATHS"], "w") as f:
                f.write("\n".join(paths))


if __name__ == "__main__":
    trio.run(main)
