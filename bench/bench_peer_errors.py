"""How many errors of N failing ``run_in_actor`` children reach the nursery's exception
(not a test; run on its own, against any checkout: ``python bench/bench_peer_errors.py``).

Each child fails at once with ``assert 0`` (the peer project's own test helper) while
the block spawns the next, as ``test_multierror_fast_nursery`` of the peer runtime
does. Prints, per round, how many of the N children's errors were raised.
"""

from __future__ import annotations

import sys

import trio

import devx


async def assert_err() -> None:
    assert 0


async def one_round(n: int) -> int:
    try:
        async with devx.open_nursery() as an:
            for i in range(n):
                await an.run_in_actor(assert_err, name=f"errorer{i}")
    except BaseExceptionGroup as eg:
        return sum(isinstance(e, devx.RemoteActorError) for e in eg.exceptions)
    except devx.RemoteActorError as err:
        assert err.boxed_type is AssertionError, err  # not a child that failed to boot
        return 1
    return 0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8  # read here: children load this file
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    got = [trio.run(one_round, n) for _ in range(rounds)]
    print(f"errors collected from {n} failing children, {rounds} rounds: {got}")


if __name__ == "__main__":
    main()
