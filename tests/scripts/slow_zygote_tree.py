"""A root opened alone (its fork server starts on its first spawn) whose zygote
computes for SECONDS as it starts (tests/slow_site's sitecustomize, on PYTHONPATH,
reads SLOW_START_BUSY, set here after this process started). Prints ``FORKED
<bool>`` once its child answered (True: forked by the zygote).

    PYTHONPATH=tests/slow_site DEVX_BOOT_TIMEOUT=1 python slow_zygote_tree.py SECONDS
"""

import os
import sys

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import devx
import fork_fns


async def main() -> None:
    async with devx.open_root_actor(spawn_method="forkserver"), devx.open_nursery() as an:
        os.environ["SLOW_START_BUSY"] = sys.argv[1]  # the zygote starts now, slowly
        portal = await an.start_actor("a", enable_modules=["fork_fns"])
        state = await portal.run(fork_fns.proc_state)
        print(f"FORKED {state['os_ppid'] != os.getpid()}\n", end="", flush=True)


if __name__ == "__main__":
    trio.run(main)
