"""A caller's block fails while its callee ignores the cancellation (shielded): the
block's exit waits at most ``DEVX_CONTEXT_CANCEL_TIMEOUT`` for the callee, then
raises the caller's own error. Prints what it saw, one fact a line."""

import os
import sys
import tempfile

import trio

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ctx_fns
import devx


async def main() -> None:
    marker = os.path.join(tempfile.mkdtemp(prefix="devx-ctx-timeout-"), "m")
    async with devx.open_nursery() as an:
        portal = await an.start_actor("stubborn", enable_modules=["ctx_fns"])
        print("timeout in the callee's actor:", await portal.run(ctx_fns.context_cancel_timeout))
        print("timeout here:", ctx_fns.context_cancel_timeout())
        t0 = trio.current_time()
        try:
            async with portal.open_context(ctx_fns.shielded_until_gate, marker=marker):
                raise ZeroDivisionError("caller block")
        except ZeroDivisionError:
            print(f"raised ZeroDivisionError after {trio.current_time() - t0:.3f} s")
        print("callee finished before the exit:", os.path.exists(marker))
        await portal.run(ctx_fns.open_gate)
        await portal.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
