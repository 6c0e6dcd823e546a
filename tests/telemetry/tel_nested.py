"""Run in a child actor by test_tel_live.py: start a whole devx tree as a subprocess
(inheriting this actor's environment, TRACEPARENT included)."""

import subprocess
import sys

NESTED = """
import trio, devx

async def main():
    async with devx.open_root_actor(name="nested"):
        pass

trio.run(main)
"""


def run_nested_tree() -> int:
    return subprocess.run([sys.executable, "-c", NESTED], stdin=subprocess.DEVNULL).returncode
