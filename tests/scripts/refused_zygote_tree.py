"""A root whose fork server cannot start: an audit hook makes the OS refuse the
zygote's process (as a full process table or a missing interpreter would), nothing
else. The tree spawns its two actors as subprocesses and works; prints ``FORKED
<bool> <bool>`` once both answered (False: spawned, not forked).

    python refused_zygote_tree.py
"""

import errno
import os
import sys

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import devx
import fork_fns


def refuse_the_zygote(event: str, args: tuple) -> None:
    if event == "subprocess.Popen" and "devx.runtime.zygote" in " ".join(map(str, args[1])):
        raise OSError(errno.EAGAIN, "process table full (refused by the test)")


async def main() -> None:
    sys.addaudithook(refuse_the_zygote)
    async with devx.open_root_actor(spawn_method="forkserver"), devx.open_nursery() as an:
        forked = []
        for name in ("a", "b"):
            portal = await an.start_actor(name, enable_modules=["fork_fns"])
            state = await portal.run(fork_fns.proc_state)
            forked.append(state["os_ppid"] != os.getpid())
        print(f"FORKED {forked[0]} {forked[1]}\n", end="", flush=True)


if __name__ == "__main__":
    trio.run(main)
