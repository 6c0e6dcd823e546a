"""Nothing devx writes lands under a live prompt: while a child's REPL is live the
root logs a devx warning and dumps every actor's stacks (SIGUSR1 to itself, as
`kill -USR1 <root pid>` would). The dumps reach their /tmp files at once; the
terminal copies and the warning wait until the REPL ends (`c`). By hand, run it
and type `p 1` a few times at the prompt: nothing else appears until `c`.

    python examples/debugging/habits_quiet.py
"""

import logging
import os
import signal

import trio

import devx
from devx.debug import lock, stack


async def pause_here() -> str:
    await devx.pause()
    return "child resumed"


async def main() -> None:
    async with devx.open_nursery(debug_mode=True, enable_stack_on_sig=True) as an:
        portal = await an.start_actor("sitter", enable_modules=[__name__])
        tty = lock.root_lock()
        async with trio.open_nursery() as tn:

            async def run() -> None:
                print(await portal.run(pause_here), flush=True)

            tn.start_soon(run)
            while tty.holder is None:  # the child's REPL is (about to be) live
                await tty.changed()
            go = os.environ.get("DEVX_QUIET_GO")  # tests say when its prompt is up
            while go and not os.path.exists(go):
                await trio.sleep(0.02)
            logging.getLogger("devx.runtime").warning("a devx warning while the REPL is live")
            os.kill(os.getpid(), signal.SIGUSR1)
            # where the dumps go at once (files, not the terminal): tests wait on them
            paths = [stack.log_path(pid) for pid in (os.getpid(), tty.holder.pid)]
            with open(os.environ.get("DEVX_QUIET_PATHS", os.devnull), "w") as f:
                f.write("\n".join(paths))


if __name__ == "__main__":
    trio.run(main)
