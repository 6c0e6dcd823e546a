"""What collecting a crash's locals costs (``devx.crash.locals``), not a test.

In one process, per crash of a frame with 10 locals (strings, numbers, a nested dict
holding a password, a list of 1000 ints, an object): the time to write the crash
record through the telemetry front (``events.exception`` with the file sink) with
``DEVX_CRASH_LOCALS`` on and off, and :func:`collect` alone (with the object: its
reprs on a helper thread; builtin values only: inline). The floor is the record
without locals (the traceback is formatted either way). Target: < 1 ms more per crash.

Run: ``python bench/bench_crash_locals.py [crashes]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from typing import Any

SMOKE = os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")


class Account:
    def __init__(self, name: str) -> None:
        self.name, self.balance = name, 12.5

    def __repr__(self) -> str:
        return f"Account(name={self.name!r}, balance={self.balance})"


def work(user: str, api_key: str) -> None:
    password = "pw-" + user
    conf = {"db": {"host": "db.local", "port": 5432, "password": password}}
    rows = list(range(1000))
    acct = Account(user)
    url = f"postgres://{user}:{password}@db.local/app"
    ratio, count, note = 0.5, 17, "x" * 500
    raise ValueError(f"boom {len((conf, rows, acct, url, ratio, count, note))}")


def plain(user: str, api_key: str) -> None:
    """The same locals, builtin values only (no object whose repr is user code)."""
    password = "pw-" + user
    conf = {"db": {"host": "db.local", "port": 5432, "password": password}}
    rows = list(range(1000))
    url = f"postgres://{user}:{password}@db.local/app"
    ratio, count, note = 0.5, 17, "x" * 500
    raise ValueError(f"boom {len((conf, rows, url, ratio, count, note))}")


def crash(fn: Any = work) -> BaseException:
    try:
        fn("alice", "AKIA-1234")
    except ValueError as exc:
        return exc
    raise AssertionError(f"{fn.__name__}() did not raise")


def time_records(n: int, on: bool) -> list[float]:
    from devx.core import events, settings

    settings.install(settings.resolve({"DEVX_CRASH_LOCALS": "1" if on else "0"}))
    out = []
    for _ in range(n):
        exc = crash()  # a fresh exception: each is recorded once
        t0 = time.perf_counter()
        events.exception(exc)
        out.append(time.perf_counter() - t0)
    return out


def time_collect(n: int, fn: Any = work) -> list[float]:
    from devx.core.settings import CRASH_LOCALS_REDACT
    from devx.telemetry.crash_locals import collect

    exc = crash(fn)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        collect(exc, pattern=CRASH_LOCALS_REDACT)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else (5 if SMOKE else 300)
    tmp = tempfile.mkdtemp(prefix="bench-locals-")
    os.environ["DEVX_TELEMETRY_FILE"] = os.path.join(tmp, "t.otlp.jsonl")
    from devx.telemetry.standalone import ProcessTelemetry

    tel = ProcessTelemetry()  # the telemetry a runtime-less process gets on a crash
    time_records(3, True)  # warm: imports, the sink, the helper thread's first start
    time_records(3, False)
    off, on = [], []
    for _ in range(4):  # interleaved: a noisy neighbour hits both alike
        off += time_records(n // 4, False)
        on += time_records(n // 4, True)
    alone = time_collect(n)
    alone_plain = time_collect(n, plain)
    tel.close("crashed")
    med_off, med_on = statistics.median(off) * 1e3, statistics.median(on) * 1e3
    print(f"crash record, locals off: median {med_off:6.3f} ms over {len(off)}")
    print(f"crash record, locals on:  median {med_on:6.3f} ms over {len(on)}")
    print(f"  cost of the locals:      {med_on - med_off:6.3f} ms per crash (target < 1 ms)")
    print(
        f"collect() alone:           median {statistics.median(alone) * 1e3:6.3f} ms, "
        f"max {max(alone) * 1e3:6.3f} ms over {len(alone)} (an object: on a helper thread)"
    )
    print(
        f"collect(), builtins only:  median {statistics.median(alone_plain) * 1e3:6.3f} ms, "
        f"max {max(alone_plain) * 1e3:6.3f} ms over {len(alone_plain)} (inline, no thread)"
    )


if __name__ == "__main__":
    main()
