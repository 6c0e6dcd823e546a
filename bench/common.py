"""What every benchmark shares: fresh-process samples taken in interleaved rounds,
medians, one table of figures against their floors and targets, and the JSON record.

A *sample* is one fresh process (``python bench/<bench>.py --sample KIND ...``) that
measures one thing the way a user sees it and prints one ``BENCH-RESULT {json}`` line
(metric name -> a number or a list of numbers, in SI units: seconds, bytes/s, MiB).
A *phase* runs its sample kinds round after round, rotating which goes first, so that
a noisy neighbour on a shared machine hits the figure and its floor alike; a *row*
compares the median of one metric to the median of its floor and checks the target.

Samples import only what they measure: this module is for the driving side, and a
sample process loads nothing from it but :func:`emit` (stdlib only, cheap).

``BENCH_QUICK=1``: fewer rounds and smaller workloads (a smoke run, ~1 minute).
``BENCH_SMOKE=1`` (``make test``'s run of every bench, tests/test_bench_smoke.py): as
quick, one round of each phase, and no record written: it checks the benches still
run, it measures nothing.
``DEVX_SPAWN_METHOD``: the spawn backend the fork-server rows use (unset: devx's default,
the fork server on Linux); the others pin subprocess.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT = "BENCH-RESULT "
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SUBPROCESS = "subprocess"  # the plain backend's name, passed as DEVX_SPAWN_METHOD


def emit(metrics: dict[str, Any]) -> None:
    """The one line a sample process reports (the driver reads the last one)."""
    print(RESULT + json.dumps(metrics), flush=True)


def smoke() -> bool:
    return os.environ.get("BENCH_SMOKE", "").strip() not in ("", "0")


def quick() -> bool:
    return smoke() or os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")


def fork_method() -> str | None:
    """The fork-server backend to measure: ``DEVX_SPAWN_METHOD``, else devx's default
    (the fork server on Linux); ``None`` (the fork-server rows are n/a) for
    subprocesses."""
    method = os.environ.get("DEVX_SPAWN_METHOD", "").strip()
    if not method:
        method = "forkserver" if sys.platform.startswith("linux") else SUBPROCESS
    return method if method != SUBPROCESS else None


def vm_rss_mib(pid: int) -> float:
    """``VmRSS`` of a live process from ``/proc/<pid>/status``, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


# --- samples and phases ---------------------------------------------------------------


@dataclass
class Kind:
    """One kind of sample: a fresh process run once per round."""

    key: str  # unique across every phase ("spawn1.devx"); rows name metrics by it
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the clean environment
    timeout: float = 300.0


def sample_kind(key: str, script: str, *args: str, timeout: float = 300.0, **env: str) -> Kind:
    """A kind whose process is ``python bench/<script> --sample <args...>``."""
    return Kind(key, [sys.executable, str(HERE / script), "--sample", *args], dict(env), timeout)


@dataclass
class Target:
    """A target on one row: ``on`` the ratio devx/floor, the delta devx - floor, or
    the devx value itself; ``op`` is ``<=``, ``<`` or ``>=``."""

    on: str
    op: str
    value: float

    def met(self, devx: float, floor: float | None) -> bool | None:
        if self.on == "value":
            x = devx
        elif floor is None or floor == 0:
            return None
        else:
            x = devx / floor if self.on == "ratio" else devx - floor
        return {"<=": x <= self.value, "<": x < self.value, ">=": x >= self.value}[self.op]

    def text(self, unit: str) -> str:
        op = {"<=": "≤", "<": "<", ">=": "≥"}[self.op]
        if self.on == "ratio":
            return f"{op} {self.value:g}x"
        if self.on == "delta":
            return f"{op} +{self.value:g} {unit}"
        return f"{op} {self.value:g} {unit}"


@dataclass
class Row:
    """One line of the table. ``devx``/``floor`` name a metric as (kind key, metric);
    ``scale`` turns the SI samples into ``unit`` (1e3 for ms, 1e6 for µs...)."""

    name: str
    unit: str
    devx: tuple[str, str]
    floor: tuple[str, str] | None = None
    target: Target | None = None
    scale: float = 1.0
    na: str | None = None  # why this row is not measured in this run
    note: str = ""
    # the ratio is the median of per-sample ratios (see paired_ratio): for a figure and
    # a floor that every sample measures side by side, in the same order
    paired: bool = False


@dataclass
class Phase:
    """Sample kinds run interleaved for ``rounds`` rounds, and the rows they feed.
    Phases of the same ``group`` are merged into one interleaved run by the driver."""

    group: str
    kinds: list[Kind]
    rounds: int
    rows: list[Row]


Samples = dict[str, dict[str, list[float]]]  # kind key -> metric -> raw samples


def clean_env(tmp: str, extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without telemetry/devx settings (defaults apply),
    temporary files under ``tmp`` (the default telemetry file lands there too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    env.update(TMPDIR=tmp, DEVX_TELEMETRY_QUIET="1", DEVX_SPAWN_METHOD=SUBPROCESS)
    env.update(extra)
    return env


def run_sample(kind: Kind, tmp: str) -> dict[str, Any]:
    out = subprocess.run(
        kind.argv,
        env=clean_env(tmp, kind.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=kind.timeout,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT)]
    if out.returncode != 0 or not lines:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise RuntimeError(
            f"sample {kind.key} ({' '.join(kind.argv[1:])}) exited {out.returncode} "
            f"without a result:\n{tail}"
        )
    return json.loads(lines[-1][len(RESULT) :])


def merge(phases: Iterable[Phase]) -> list[Phase]:
    """Phases of one group become one: the union of kinds (by key), the most rounds."""
    merged: dict[str, Phase] = {}
    for ph in phases:
        m = merged.get(ph.group)
        if m is None:
            merged[ph.group] = Phase(ph.group, list(ph.kinds), ph.rounds, list(ph.rows))
            continue
        keys = {k.key for k in m.kinds}
        m.kinds += [k for k in ph.kinds if k.key not in keys]
        m.rounds = max(m.rounds, ph.rounds)
        m.rows += ph.rows
    return list(merged.values())


def collect(phases: list[Phase], log: Callable[[str], None]) -> Samples:
    samples: Samples = {}
    tmp = tempfile.mkdtemp(prefix="devx-bench-")
    try:
        for ph in phases:
            for r in range(1 if smoke() else ph.rounds):
                t0 = time.perf_counter()
                n = len(ph.kinds)
                for i in range(n):  # rotate who goes first each round
                    kind = ph.kinds[(i + r) % n]
                    for metric, v in run_sample(kind, tmp).items():
                        got = samples.setdefault(kind.key, {}).setdefault(metric, [])
                        got.extend(v if isinstance(v, list) else [v])
                log(f"{ph.group}: round {r + 1}/{ph.rounds} ({time.perf_counter() - t0:.1f} s)")
    finally:
        subprocess.run(["rm", "-rf", tmp], check=False)
    return samples


# --- the table and the record ---------------------------------------------------------


def _values(samples: Samples, ref: tuple[str, str] | None, scale: float) -> list[float]:
    if ref is None:
        return []
    return [x * scale for x in samples.get(ref[0], {}).get(ref[1], [])]


def paired_ratio(devx: list[float], floor: list[float]) -> float | None:
    """The median of the per-sample ratios of a figure and a floor measured in the same
    samples (one process each, interleaved blocks): on a box whose load swings from
    sample to sample (the floor read 129 to 255 µs in one run), a pair shares its
    moment, the two medians taken apart do not. None when they cannot be paired."""
    if not devx or len(devx) != len(floor) or not all(floor):
        return None
    return statistics.median(d / f for d, f in zip(devx, floor, strict=True))


def evaluate(rows: list[Row], samples: Samples) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        devx = _values(samples, row.devx, row.scale)
        floor = _values(samples, row.floor, row.scale)
        d = statistics.median(devx) if devx and not row.na else None
        f = statistics.median(floor) if floor and not row.na else None
        ratio = d / f if d is not None and f else None
        paired = row.paired and row.floor is not None and row.devx[0] == row.floor[0]
        if paired and ratio is not None:
            ratio = paired_ratio(devx, floor) or ratio
        met = None
        if row.target and d is not None:
            met = row.target.met(d, f)
            if paired and row.target.on == "ratio" and ratio is not None:
                met = row.target.met(ratio, 1.0)  # the paired ratio is what is checked
        out.append(
            {
                "name": row.name,
                "unit": row.unit,
                "devx_median": d,
                "floor_median": f,
                "ratio": ratio,
                "paired": paired,
                "delta": d - f if d is not None and f is not None else None,
                "target": row.target.text(row.unit) if row.target else None,
                "target_on": row.target.on if row.target else None,
                "met": met,
                "na": row.na,
                "note": row.note,
                "rounds": len(devx),
                "devx_samples": devx,
                "floor_samples": floor,
                "devx_metric": ".".join(row.devx),
                "floor_metric": ".".join(row.floor) if row.floor else None,
            }
        )
    return out


def _num(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "msg/s":
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def table(results: list[dict[str, Any]]) -> str:
    head = ("what", "devx", "floor", "devx/floor", "target", "", "n")
    lines = []
    for r in results:
        if r["na"]:
            lines.append((r["name"], "n/a", "", "", r["target"] or "", "n/a", ""))
            continue
        u = r["unit"]
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "—"
        if r.get("paired") and r["ratio"] is not None:
            ratio = "p " + ratio  # the median of per-sample ratios (see the notes)
        if r["target_on"] == "delta" and r["delta"] is not None:
            ratio = f"{r['delta']:+.2g} {u}"
        verdict = {True: "pass", False: "MISS", None: ""}[r["met"]]
        lines.append(
            (
                r["name"],
                f"{_num(r['devx_median'], u)} {u}",
                f"{_num(r['floor_median'], u)} {u}" if r["floor_median"] is not None else "—",
                ratio,
                r["target"] or "—",
                verdict,
                str(r["rounds"]),
            )
        )
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), "  ".join("-" * w for w in widths)]
    out += [fmt.format(*x) for x in lines]
    notes = [f"  {r['name']}: {r['na'] or r['note']}" for r in results if r["na"] or r["note"]]
    if any(r.get("paired") for r in results):
        notes.append(
            "  p: the median of per-sample ratios (a figure and its floor measured in "
            "the same process, interleaved), not the ratio of the two medians"
        )
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def machine(load_start: tuple[float, float, float], started: float) -> dict[str, Any]:
    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True)
        return r.stdout.strip()

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_start": list(load_start),
        "loadavg_end": list(os.getloadavg()),
        "git_commit": git("rev-parse", "HEAD"),
        # local changes outside bench/results (the record itself is rewritten every run)
        "git_dirty": bool(
            git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
        ),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "quick": quick(),
        "fork_method": fork_method(),
    }


def run(phases: Iterable[Phase], *, json_path: Path | None = None) -> list[dict[str, Any]]:
    """Run the phases, print the table (and the machine line), write the record."""
    started, load = time.time(), os.getloadavg()
    merged = merge(phases)

    def log(msg: str) -> None:
        print(f"  [{time.time() - started:5.0f} s] {msg}", file=sys.stderr, flush=True)

    samples = collect(merged, log)
    results = evaluate([row for ph in merged for row in ph.rows], samples)
    info = machine(load, started)
    print(table(results))
    print(
        f"\n{info['cpu_count']} CPUs, Python {info['python']}, load "
        f"{info['loadavg_start'][0]:.1f} -> {info['loadavg_end'][0]:.1f}, "
        f"{info['duration_s']:.0f} s, commit {info['git_commit'][:10]}"
        f"{' (dirty)' if info['git_dirty'] else ''}{', QUICK' if info['quick'] else ''}; "
        "medians of interleaved rounds, each sample a fresh process"
    )
    if json_path is not None and not smoke():
        json_path.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": info, "rows": results}
        json_path.write_text(json.dumps(record, indent=1) + "\n")
        where = json_path.resolve()
        shown = where.relative_to(HERE.parent) if where.is_relative_to(HERE.parent) else where
        print(f"wrote {shown}")
    return results
