"""A root (stack dumps on) with one child; prints ``CHILD <pid>``, then blocks its
loop in sync code (reading the FIFO named on argv) so that it cannot hear of that
child's exit meanwhile; once a byte arrives it goes on and the tree ends.

    python relay_reused_pid.py FIFO
"""

import os
import sys

import trio

import devx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fns


async def main() -> None:
    async with devx.open_nursery(enable_stack_on_sig=True) as an:
        portal = await an.start_actor("victim", enable_modules=["fns"])
        print(f"CHILD {await portal.run(fns.my_pid)}\n", end="", flush=True)
        fd = os.open(sys.argv[1], os.O_RDONLY)  # no checkpoint from the print on
        os.read(fd, 1)
        os.close(fd)


if __name__ == "__main__":
    try:
        trio.run(main)
    except devx.ActorExited as exc:  # the victim was killed meanwhile: expected
        print(f"EXITED {exc}\n", end="", flush=True)
