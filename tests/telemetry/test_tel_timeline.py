"""``devx timeline``: real example trees write their telemetry file, the CLI (a real
subprocess) reads it back as text; what it prints is checked against the file."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from tel_support import clean_env

from conftest import scaled
from devx.core import schema
from devx.telemetry import readback
from devx.telemetry import timeline as timeline_mod

# one xdist group: its tests read the runs of one module-scoped fixture
pytestmark = [pytest.mark.timeout(60), pytest.mark.xdist_group("tel_timeline")]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOLD = re.compile(r"^ +#(\d+) +([+-]\d+\.\d+) \.\. +([+-]\d+\.\d+|\?)  (\S+) +(\S+)  (.*)$")
NEVER = re.compile(r"^ +([+-]\d+\.\d+) +(\S+) +(\S+) +requested, never granted")
EVENT = re.compile(r"^ +([+-]\d+\.\d+)  (\S+) +(.+?)  +(.*)$")


def _env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def run_example(script: str, out: Path) -> subprocess.CompletedProcess[str]:
    """An example tree with stdin not a terminal: every REPL is announced and skipped,
    but the TTY lock is still taken, turn by turn."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(15),
        env=_env(DEVX_TELEMETRY_FILE=str(out)),
    )


def timeline(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devx.cli", "timeline", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(10),
        env=_env(**env),
    )


def sections(text: str) -> dict[str, list[str]]:
    """Lines of the output by section ("header", "actors", "TTY lock", "events")."""
    out: dict[str, list[str]] = {"header": []}
    current = "header"
    for line in text.splitlines():
        for name in ("actors", "TTY lock", "events"):
            if line.startswith(name):
                current = name
                out[current] = []
                break
        else:
            out[current].append(line)
    return out


class Shown(NamedTuple):
    """One hold as printed: its first line's columns, and all its notes (carried onto
    the lines below it when long) as one string."""

    hold_id: int
    start: float
    end: float | None
    path: str
    reason: str
    notes: str


def holds_of(text: str) -> list[Shown]:
    """Every hold shown, in printed order."""
    found: list[Shown] = []
    for line in sections(text)["TTY lock"]:
        m = HOLD.match(line)
        if m:
            end = None if m[3] == "?" else float(m[3])
            found.append(Shown(int(m[1]), float(m[2]), end, m[4], m[5], m[6]))
        elif found and line.startswith(" " * 8) and not NEVER.match(line):
            found[-1] = found[-1]._replace(notes=f"{found[-1].notes}  {line.strip()}")
    return found


def lock_records(path: Path, name: str) -> list[dict[str, Any]]:
    """The attributes of the TTY lock records ``name`` in the file, in time order."""
    recs = sorted(
        (r for r in readback.load_logs(path) if r["event_name"] == name),
        key=lambda r: r["time_ns"],
    )
    return [r["attributes"] for r in recs]


def grants(path: Path) -> list[dict[str, Any]]:
    return sorted(
        (r for r in readback.load_logs(path) if r["event_name"] == schema.LOCK_GRANTED),
        key=lambda r: r["time_ns"],
    )


def released(path: Path) -> dict[int, dict[str, Any]]:
    """The root's release records by hold id."""
    return {a[schema.HOLD_ID]: a for a in lock_records(path, schema.LOCK_RELEASED)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example run once for the whole module."""
    base = tmp_path_factory.mktemp("timeline")
    files = {}
    for name in ("multi_pause_crash", "child_crash"):  # in this order: child's is newer
        out = base / f"{name}.otlp.jsonl"
        proc = run_example(f"debugging/{name}.py", out)
        assert out.exists(), proc.stderr
        assert f"devx: telemetry written to {out}" in proc.stderr, proc.stderr
        files[name] = out
    return files


def test_multi_pause_crash(runs: dict[str, Path]) -> None:
    path = runs["multi_pause_crash"]
    proc = timeline(str(path))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "\x1b[" not in text  # not a terminal: no colour
    sec = sections(text)
    spans = readback.load_spans(path)
    (tree,) = [s for s in spans if s["name"] == "devx.tree"]
    assert sec["header"][0].startswith(f"trace {tree['trace_id']}  (file: {path})")
    assert "tree 'root'  debug_mode" in sec["header"][1]
    assert "outcome error" in sec["header"][1]

    # every actor, once
    paths = {s["attributes"]["devx.actor.path"] for s in spans if s["name"] == "devx.actor"}
    assert paths == {"root", "root/pauser0", "root/pauser1", "root/pauser2", "root/crasher"}
    listed = [line.split()[0] for line in sec["actors"] if line.startswith("  ")]
    assert sorted(listed) == sorted(paths)
    assert listed[0] == "root"

    # one hold per grant the root recorded, by the hold id it minted, in its order,
    # never overlapping; each with the wait of its grant and the end of its release
    got = holds_of(text)
    want = [g["attributes"] for g in grants(path)]
    ends = released(path)
    assert len(got) == len(want) == 5, text
    assert [h.hold_id for h in got] == [g[schema.HOLD_ID] for g in want] == [1, 2, 3, 4, 5]
    assert [h.path for h in got] == [g[schema.HOLDER_PATH] for g in want]
    assert [h.reason for h in got] == [g[schema.REASON] for g in want]
    for h, g in zip(got, want, strict=True):
        end = ends[h.hold_id]
        assert h.notes.startswith(
            f"waited {g[schema.WAIT_S]:.3f} s  held {end[schema.HELD_S]:.3f} s"
            f"  ended: {end[schema.RELEASE_HOW].replace('_', ' ')}"
        ), h
        assert "no REPL" in h.notes  # stdin is not a terminal: each REPL was skipped
        # a crash REPL's hold ends with the post-mortem, a pause's as `c` would
        assert end[schema.RELEASE_HOW] == ("done" if h.reason == "crash" else "continue"), h
    for before, after in itertools.pairwise(got):
        assert before.end is not None and before.start <= before.end <= after.start
    # every request was answered by a grant (joined by request id)
    asked = {a[schema.REQUEST_ID] for a in lock_records(path, schema.LOCK_REQUESTED)}
    assert asked == {g[schema.REQUEST_ID] for g in want}
    assert "OVERLAPS" not in text and "never granted" not in text
    assert all(h.reason == "crash" for h in got if h.path in ("root", "root/crasher"))

    # the crash, where it happened and as the root got it
    events = [EVENT.match(line) for line in sec["events"] if line.startswith("  ")]
    crash = [m for m in events if m and m[3].strip() == "crash"]
    assert len(crash) == 1, text
    assert crash[0][2] == "root/crasher"
    assert crash[0][4] == "RuntimeError: crasher went down"
    remote = [m for m in events if m and m[3].strip() == "remote error"]
    assert remote and all(m[2] == "root" for m in remote)
    assert all(m[4].startswith("RuntimeError from root/crasher") for m in remote)
    times = [float(m[1]) for m in events if m]
    assert times == sorted(times)
    assert max(len(line) for line in text.splitlines()[1:]) <= 100


def test_several_traces_in_one_file(runs: dict[str, Path], tmp_path: Path) -> None:
    both = tmp_path / "both.otlp.jsonl"
    both.write_bytes(runs["multi_pause_crash"].read_bytes() + runs["child_crash"].read_bytes())
    multi_id = grants(runs["multi_pause_crash"])[0]["trace_id"]
    child_id = grants(runs["child_crash"])[0]["trace_id"]

    proc = timeline(str(both))  # the last tree by default, and a word about the other
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"trace {child_id}")
    assert f"1 other trace(s) in this file: {multi_id[:8]}" in proc.stdout
    assert "root/divider" in proc.stdout and "root/pauser0" not in proc.stdout
    assert [(h.hold_id, h.path) for h in holds_of(proc.stdout)] == [
        (1, "root/divider"),
        (2, "root"),
    ]

    proc = timeline(str(both), "--trace", multi_id[:10])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"trace {multi_id}")
    assert len(holds_of(proc.stdout)) == 5

    proc = timeline(str(both), "--trace", "0" * 32)
    assert proc.returncode == 1
    assert "no trace" in proc.stderr and multi_id[:8] in proc.stderr
    assert proc.stdout == ""


def test_no_file_or_no_trace(tmp_path: Path) -> None:
    proc = timeline(str(tmp_path / "missing.otlp.jsonl"))
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr and "missing.otlp.jsonl" in proc.stderr

    # the default: the newest file in an empty telemetry directory
    proc = timeline(TMPDIR=str(tmp_path))
    assert proc.returncode == 1
    assert f"no telemetry file (*.otlp.jsonl) in {tmp_path}/devx-telemetry-" in proc.stderr

    for content in (b"", b"not json\n", b'{"resourceSpans": []}\n'):
        empty = tmp_path / "empty.otlp.jsonl"
        empty.write_bytes(content)
        proc = timeline(str(empty))
        assert proc.returncode == 1, content
        assert "no devx trace in this file" in proc.stderr


def test_default_is_the_newest_file(runs: dict[str, Path], tmp_path: Path) -> None:
    tel_dir = tmp_path / f"devx-telemetry-{os.getuid()}"
    tel_dir.mkdir()
    old = tel_dir / "root-00000001.otlp.jsonl"
    new = tel_dir / "root-00000002.otlp.jsonl"
    shutil.copy(runs["child_crash"], old)
    shutil.copy(runs["multi_pause_crash"], new)
    (tel_dir / "unrelated.txt").write_text("not telemetry")
    os.utime(old, (1_000_000, 1_000_000))
    # newer, but not a file of ours: a symlink (e.g. planted in a shared directory)
    elsewhere = tmp_path / "elsewhere.otlp.jsonl"
    shutil.copy(runs["child_crash"], elsewhere)
    later = time.time() + 3600
    os.utime(elsewhere, (later, later))
    (tel_dir / "root-00000003.otlp.jsonl").symlink_to(elsewhere)
    proc = timeline(TMPDIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert f"(file: {new})" in proc.stdout.splitlines()[0]
    assert f"timeline: {new} (your newest in {tel_dir};" in proc.stderr  # says which
    assert len(holds_of(proc.stdout)) == 5


def test_trace_without_file_finds_the_file_holding_it(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """`--trace ID` alone (the id a cross-tree call's link names: the other tree's
    trace) reads the file that holds it, not the newest, which said "no trace ... in
    this file"; an id no file holds is one line naming the directory."""
    tel_dir = tmp_path / f"devx-telemetry-{os.getuid()}"
    tel_dir.mkdir()
    old = tel_dir / "root-00000001.otlp.jsonl"
    new = tel_dir / "root-00000002.otlp.jsonl"
    shutil.copy(runs["child_crash"], old)
    shutil.copy(runs["multi_pause_crash"], new)
    os.utime(old, (1_000_000, 1_000_000))
    (wanted,) = {s["trace_id"] for s in readback.load_spans(old)}
    proc = timeline("--trace", wanted[:12], TMPDIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"trace {wanted}  (file: {old})"), proc.stdout
    assert f"timeline: {old} (your newest in {tel_dir} with trace {wanted[:12]})" in proc.stderr
    proc = timeline("--trace", "0123456789abcdef", TMPDIR=str(tmp_path))
    assert proc.returncode == 1 and proc.stdout == "", proc.stdout
    assert f"no telemetry file of yours in {tel_dir} holds trace '0123456789abcdef'" in (
        proc.stderr
    )


def test_torn_last_line_still_renders(runs: dict[str, Path], tmp_path: Path) -> None:
    data = runs["multi_pause_crash"].read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    torn = tmp_path / "torn.otlp.jsonl"
    torn.write_bytes(data + last[: len(last) // 2])  # a writer caught mid-line
    proc = timeline(str(torn))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 unreadable line(s)" in proc.stdout
    assert len(holds_of(proc.stdout)) == 5

    # cut in the middle: a tree still being written, its tree span not out yet
    cut = tmp_path / "cut.otlp.jsonl"
    cut.write_bytes(data[: len(data) // 2])
    proc = timeline(str(cut))
    assert proc.returncode == 0, proc.stderr
    assert "no devx.tree span" in proc.stdout
    for h in holds_of(proc.stdout):
        assert h.end is None or h.start <= h.end

    # whatever point a reader catches the file at, it renders as soon as one devx
    # record is complete, and says there is nothing to show before (in-process: fast)
    rendered = 0
    for n in [*range(0, len(data), max(1, len(data) // 60)), len(data)]:
        cut.write_bytes(data[:n])
        names = [s["name"] for s in readback.load_spans(cut, strict=False)]
        names += [r["event_name"] for r in readback.load_logs(cut, strict=False)]
        if any(name and name.startswith("devx.") for name in names):
            assert timeline_mod.render(cut).startswith("trace "), n
            rendered += 1
        else:
            with pytest.raises(timeline_mod.TimelineError, match="no devx trace"):
                timeline_mod.render(cut)
    assert rendered >= 30  # most cuts hold a record: the loop tested something


def _records(req: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Log records and span events of one raw OTLP/JSON request."""
    for rl in req.get("resourceLogs", ()):
        for sl in rl.get("scopeLogs", ()):
            for r in sl.get("logRecords", ()):
                yield {"name": r.get("eventName"), "rec": r}
    for rs in req.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for s in ss.get("spans", ()):
                for e in s.get("events", ()):
                    yield {"name": e.get("name"), "rec": e}


def test_overlapping_holds_are_shown_as_they_are(runs: dict[str, Path], tmp_path: Path) -> None:
    """Should the data ever show two holders at once, the timeline says so."""
    lines = runs["multi_pause_crash"].read_text().splitlines()
    reqs = [json.loads(line) for line in lines]
    first = min(
        int(x["rec"]["timeUnixNano"])
        for req in reqs
        for x in _records(req)
        if x["name"] == schema.LOCK_RELEASED
    )
    for req in reqs:  # the first release, 1 s late (in its log record and span event)
        for x in _records(req):
            if x["name"] == schema.LOCK_RELEASED and int(x["rec"]["timeUnixNano"]) == first:
                x["rec"]["timeUnixNano"] = str(first + 1_000_000_000)
    edited = tmp_path / "overlap.otlp.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in reqs))
    proc = timeline(str(edited))
    assert proc.returncode == 0, proc.stderr
    got = holds_of(proc.stdout)
    assert [h.hold_id for h in got] == [1, 2, 3, 4, 5]  # still joined by id: no new hold
    assert [h.start for h in got] == sorted(h.start for h in got)
    first_end = got[0].end
    assert first_end is not None and first_end > got[1].start
    assert "OVERLAPS the previous hold" in got[1].notes, proc.stdout


def test_holder_killed_while_holding(tmp_path: Path) -> None:
    """The holder is SIGKILLed holding the lock (needs a PTY): its hold is on record
    from the root's side, marked, and the dead actor is listed though it never
    exported a span."""
    from _pty import Repl, banner, kill_holder

    out = tmp_path / "killed.otlp.jsonl"
    r = Repl("holder_killed.py", DEVX_TELEMETRY_FILE=str(out))
    try:
        kill_holder(r)
        r.expect(banner("PAUSE", "second", "root/second"))
        r.prompt()
        r.child.sendline("c")
        assert r.finish() == 0
    finally:
        r.close()
    proc = timeline(str(out))
    assert proc.returncode == 0, proc.stderr
    got = holds_of(proc.stdout)
    assert [(h.hold_id, h.path) for h in got] == [(1, "root/doomed"), (2, "root/second")]
    assert [g["attributes"][schema.HOLD_ID] for g in grants(out)] == [1, 2]
    doomed, second = got
    # the root ended the dead holder's hold; its parent saw how it died
    assert released(out)[1][schema.RELEASE_HOW] == "holder_lost"
    assert (
        "ended: holder lost" in doomed.notes and "holder died (killed by SIGKILL)" in doomed.notes
    )
    assert "REPL at" not in doomed.notes  # it never exported its REPL span
    assert "at holder_killed.py:" in doomed.notes and "in pause_here()" in doomed.notes
    assert "ended: continue" in second.notes and "holder died" not in second.notes
    assert "REPL at holder_killed.py:" in second.notes and "in pause_here()" in second.notes
    doomed = [line for line in sections(proc.stdout)["actors"] if "root/doomed" in line]
    assert len(doomed) == 1 and "killed by SIGKILL" in doomed[0]


def test_a_hold_whose_repl_is_open_shows_where_it_stopped(tmp_path: Path) -> None:
    """The timeline taken while a REPL is open (needs a PTY): the hold has no end and
    no REPL span yet; it shows where the holder stopped (from the root's grant) and
    says it may still be held (it said only "no release on record")."""
    from _pty import Repl, banner

    out = tmp_path / "live.otlp.jsonl"
    r = Repl("child_pause_sleep.py", DEVX_TELEMETRY_FILE=str(out))
    try:
        r.expect(banner("PAUSE", "pauser", "root/pauser"))
        r.prompt()

        def granted() -> bool:
            return out.exists() and bool(grants(out))

        from conftest import wait_until

        wait_until(granted, scaled(10), "the grant on record")
        proc = timeline(str(out), "--width", "0")
        r.child.sendline("c")
        r.expect_exact("root got: child finished")
        assert r.finish() == 0
    finally:
        r.close()
    assert proc.returncode == 0, proc.stderr
    (hold,) = holds_of(proc.stdout)
    assert (hold.path, hold.end) == ("root/pauser", None), proc.stdout
    assert "no release on record (still held, or its end was lost)" in hold.notes, hold
    assert "at child_pause_sleep.py:9 in pause_and_report()" in hold.notes, hold


def test_a_tree_that_still_runs_shows_every_actor_with_its_pid(tmp_path: Path) -> None:
    """A hung tree (what one runs the timeline on while it hangs): no lifetime span is
    on record yet, the start spans are. Every actor shows its pid and start, the root
    too (it showed `pid ?  ? .. ?`: only its children's spawn records were read)."""
    import signal

    out = tmp_path / "hung.otlp.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "hang" / "hung_tree.py")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(DEVX_TELEMETRY_FILE=str(out)),
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        pids = {}
        while len(pids) < 4:  # HUNG <tree path> <pid> <how>, from all but the spawner
            line = proc.stdout.readline()
            assert line, "the tree ended"
            if line.startswith("HUNG "):
                pids[line.split()[1]] = int(line.split()[2])

        def started() -> bool:  # each actor's start span, written at its boot
            spans = readback.load_spans(out, strict=False) if out.exists() else []
            return sum(s["name"] == schema.ACTOR_START_SPAN for s in spans) == 5

        from conftest import wait_until

        wait_until(started, scaled(10), "every actor's start span in the file")
        res = timeline(str(out), "--width", "0")
        assert res.returncode == 0, res.stderr
        assert "no devx.tree span: the tree is still running" in res.stdout, res.stdout
        rows = {ln.split()[0]: ln for ln in sections(res.stdout)["actors"] if ln.strip()}
        assert set(rows) == {*pids, "hung_tree/spawner"}, res.stdout
        for path, pid in {**pids, "hung_tree/spawner": r"\d+"}.items():
            assert re.match(rf" +{re.escape(path)} +pid {pid} +\+\d+\.\d+ \.\. +\? ", rows[path]), (
                rows[path]
            )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_reentries_and_stepping_out(tmp_path: Path) -> None:
    """`n` through a child's loop of pauses (needs a PTY): one hold, its REPL entered
    again at each pause, ended by stepping out of the paused function."""
    from _pty import PROMPT, Repl, banner

    out = tmp_path / "steps.otlp.jsonl"
    r = Repl("habits_step_loop.py", "child", "3", DEVX_TELEMETRY_FILE=str(out))
    try:
        r.expect(banner("PAUSE", "looper", "root/looper"))
        r.prompt()
        for _ in range(20):  # three turns of a three-line loop, and out
            r.child.sendline("n")
            if r.expect(rf"{re.escape(PROMPT)}|loop returned 3")[0] != PROMPT:
                break
        else:
            raise AssertionError(f"never stepped out:\n{r.log.getvalue()}")
        assert r.finish() == 0
    finally:
        r.close()
    proc = timeline(str(out))
    assert proc.returncode == 0, proc.stderr
    (hold,) = holds_of(proc.stdout)
    (grant,) = grants(out)
    assert (hold.hold_id, hold.path, hold.reason) == (
        grant["attributes"][schema.HOLD_ID],
        "root/looper",
        "pause",
    )
    reentered = lock_records(out, schema.REPL_REENTERED)
    assert len(reentered) == 2 and {a[schema.HOLD_ID] for a in reentered} == {hold.hold_id}
    assert "re-entered twice" in hold.notes
    assert "ended: stepped out" in hold.notes
    assert "REPL at habits_step_loop.py:" in hold.notes and "in loop_and_pause()" in hold.notes
    assert "never granted" not in proc.stdout
    # re-entries are part of the hold, not events of their own
    assert schema.REPL_REENTERED not in "\n".join(sections(proc.stdout)["events"])


def test_a_post_mortem_on_a_hold_with_no_repl_shows_as_the_crashs(tmp_path: Path) -> None:
    """post_mortem() inside acquire_debug_lock() (needs a PTY): its REPL opens on the
    held terminal; the hold's one REPL is shown as the crash's, not as a REPL followed
    by a crash."""
    from _pty import Repl

    out = tmp_path / "held.otlp.jsonl"
    r = Repl("crash_holding_terminal.py", DEVX_TELEMETRY_FILE=str(out))
    try:
        r.prompt()
        r.child.sendline("c")
        r.expect_exact("went on")
        assert r.finish() == 0
    finally:
        r.close()
    proc = timeline(str(out))
    assert proc.returncode == 0, proc.stderr
    (hold,) = holds_of(proc.stdout)
    assert "crashed: REPL at crash_holding_terminal.py:" in hold.notes, proc.stdout
    assert "in report()" in hold.notes and "then crashed" not in hold.notes, proc.stdout


def test_quit_ends_the_hold(tmp_path: Path) -> None:
    """`c` then `q` in a child (needs a PTY): two holds, one request each, the second
    ended by the quit."""
    from _pty import Repl, banner

    out = tmp_path / "quit.otlp.jsonl"
    r = Repl("child_pause_loop.py", DEVX_TELEMETRY_FILE=str(out))
    try:
        for cmd in ("c", "q"):
            r.expect(banner("PAUSE", "looper", "root/looper"))
            r.prompt()
            r.child.sendline(cmd)
        r.expect_exact("quit from the REPL in actor 'root/looper'")
        r.finish()
    finally:
        r.close()
    proc = timeline(str(out))
    assert proc.returncode == 0, proc.stderr
    got = holds_of(proc.stdout)
    want = [g["attributes"] for g in grants(out)]
    assert [(h.hold_id, h.path) for h in got] == [(1, "root/looper"), (2, "root/looper")]
    assert [h.hold_id for h in got] == [g[schema.HOLD_ID] for g in want]
    asked = [a[schema.REQUEST_ID] for a in lock_records(out, schema.LOCK_REQUESTED)]
    assert asked == [g[schema.REQUEST_ID] for g in want] and len(set(asked)) == 2
    first, second = got
    assert "ended: continue" in first.notes and "ended: quit" in second.notes
    for h in got:
        assert "REPL at child_pause_loop.py:" in h.notes and "re-entered" not in h.notes
    # a quit is the user's, no error: outcome `quit`, no crash event (it read `outcome
    # error` and `root  crash  UserQuit: quit from the REPL ...`)
    assert re.search(r"^tree 'root' .* outcome quit$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^  root +pid \d+ .* quit$", proc.stdout, re.M), proc.stdout
    assert "UserQuit" not in proc.stdout and " crash " not in proc.stdout, proc.stdout
    spans = readback.load_spans(out)
    (tree,) = [s for s in spans if s["name"] == schema.TREE_SPAN]
    (root,) = [
        s
        for s in spans
        if s["name"] == schema.ACTOR_SPAN and s["attributes"][schema.ACTOR_PATH] == "root"
    ]
    assert root["attributes"][schema.ACTOR_OUTCOME] == "quit"
    # so is the actor whose REPL the user quit (it said `ok`: its call's quit went to
    # its caller, boxed, and nothing of it was left when the actor ended)
    (looper,) = [
        s
        for s in spans
        if s["name"] == schema.ACTOR_SPAN and s["attributes"][schema.ACTOR_PATH] == "root/looper"
    ]
    assert looper["attributes"][schema.ACTOR_OUTCOME] == "quit"
    assert re.search(r"^  root/looper +pid \d+ .* quit$", proc.stdout, re.M), proc.stdout
    for span in (tree, root):  # no ERROR (the quit's way up is a `remote error` event)
        assert span["status_code"] != 2, span


def test_a_quit_in_a_context_callee_is_no_crash(tmp_path: Path) -> None:
    """`q` at a pause inside a ``@devx.context`` callee (needs a PTY): the callee's
    context span recorded the BdbQuit as a crash (an ERROR status, a `crash BdbQuit`
    event with the frame's locals, the actor shown `crashed`), where a quit in a
    ``portal.run`` call is none (test_quit_ends_the_hold)."""
    from _pty import Repl, banner

    out = tmp_path / "quit.otlp.jsonl"
    r = Repl("context_pause.py", DEVX_TELEMETRY_FILE=str(out))
    try:
        r.expect(banner("PAUSE", "adder", "root/adder"))
        r.prompt()
        r.child.sendline("q")
        r.expect_exact("quit from the REPL in actor 'root/adder'")
        r.finish()
    finally:
        r.close()
    proc = timeline(str(out))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^tree 'root' .* outcome quit$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^  root/adder +pid \d+ .* (ok|quit)$", proc.stdout, re.M), proc.stdout
    assert " crash " not in proc.stdout and "crashed" not in proc.stdout, proc.stdout
    for span in readback.load_spans(out):
        assert span["status_code"] != 2, (span["name"], span.get("status_message"))


RESTART_PROGRAM = """
import trio
import devx


async def main() -> None:
    async with devx.open_nursery() as an:
        for _ in range(2):  # a supervisor's restart: the same name, a new actor
            worker = await an.start_actor("worker")
            await worker.cancel_actor()


if __name__ == "__main__":
    trio.run(main)
"""


def test_events_of_a_restarted_actor_say_whose(tmp_path: Path) -> None:
    """A worker restarted under its name: two actors with one path. The actors
    section lists both with their pids, but each event row gave only the path (two
    `cancel req`, two `exit` for `root/worker`): each row of such a path now names
    its actor's pid."""
    script = tmp_path / "restart.py"
    script.write_text(RESTART_PROGRAM)
    out = tmp_path / "restart.otlp.jsonl"
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**clean_env(), "DEVX_TELEMETRY_FILE": str(out)},
        capture_output=True,
        text=True,
        timeout=scaled(30),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    proc = timeline(str(out), "--width", "0")
    assert proc.returncode == 0, proc.stderr
    pids = re.findall(r"^  root/worker +pid (\d+) ", proc.stdout, re.M)
    assert len(set(pids)) == 2, proc.stdout
    for pid in pids:
        rows = re.findall(rf"^ +\+[\d.]+ +root/worker \({pid}\) +(\S+ ?\S*)", proc.stdout, re.M)
        assert any(r.startswith("exit") for r in rows), proc.stdout
        assert any(r.startswith("cancel req") for r in rows), proc.stdout


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def uncolored(text: str) -> list[str]:
    """The lines without colour codes (nor the padding a coloured cell keeps)."""
    return [line.rstrip() for line in ANSI.sub("", text).splitlines()]


def test_color(runs: dict[str, Path]) -> None:
    """--color always/never, and auto: on a terminal, unless NO_COLOR."""
    import pexpect

    path = str(runs["child_crash"])
    plain = timeline(path, "--color", "never")
    colored = timeline(path, "--color", "always")
    assert plain.returncode == colored.returncode == 0
    assert "\x1b[" not in plain.stdout and "\x1b[" in colored.stdout
    assert uncolored(colored.stdout) == plain.stdout.splitlines()  # the same text, coloured

    def on_a_terminal(**env: str) -> str:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "devx.cli", "timeline", path],
            env=_env(**env),
            encoding="utf-8",
            timeout=scaled(10),
            dimensions=(24, 100),  # as wide as a pipe's default: the same text
        )
        try:
            out = child.read()
        finally:
            child.close()
        assert child.exitstatus == 0, out
        return out.replace("\r\n", "\n")

    auto = on_a_terminal()
    assert "\x1b[" in auto and uncolored(auto) == plain.stdout.splitlines()
    assert on_a_terminal(NO_COLOR="1") == plain.stdout


# --- pictures, filters, widths -------------------------------------------------------


def test_chrome_trace(runs: dict[str, Path], tmp_path: Path) -> None:
    """--chrome-trace: Chrome trace-event JSON, one track per actor in tree order,
    each hold (by the id the root minted) and its wait as bars on the holder's
    terminal thread, the crash as a mark, the crashing actor's bar marked crashed."""
    from devx.telemetry.timeline import chrome

    path = runs["multi_pause_crash"]
    out = tmp_path / "session.json"
    proc = timeline(str(path), "--chrome-trace", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stderr and proc.stdout == ""
    doc = json.loads(out.read_text())
    # the same document on stdout with --format chrome
    assert json.loads(timeline(str(path), "--format", "chrome").stdout) == doc
    evs = doc["traceEvents"]
    tracks = {e["pid"]: e["args"]["name"] for e in evs if e["name"] == "process_name"}
    spans = readback.load_spans(path)
    actor_spans = {
        s["attributes"]["devx.actor.path"]: s for s in spans if s["name"] == "devx.actor"
    }
    assert sorted(tracks.values()) == sorted(actor_spans)
    order = sorted(
        (e["args"]["sort_index"], tracks[e["pid"]])
        for e in evs
        if e["name"] == "process_sort_index"
    )
    assert order[0][1] == "root"
    for p, s in actor_spans.items():  # a track is its actor's OS pid
        assert tracks[s["attributes"]["process.pid"]] == p

    held = [
        e for e in evs if e["ph"] == "X" and e.get("cat") == "tty_lock" and "hold_id" in e["args"]
    ]
    held = [e for e in held if e["name"].startswith("hold #")]
    granted = {g["attributes"][schema.HOLD_ID]: g for g in grants(path)}
    ended = {
        r["attributes"][schema.HOLD_ID]: r["time_ns"]
        for r in readback.load_logs(path)
        if r["event_name"] == schema.LOCK_RELEASED
    }
    assert [e["args"]["hold_id"] for e in sorted(held, key=lambda e: e["ts"])] == [1, 2, 3, 4, 5]
    for e in held:
        rec = granted[e["args"]["hold_id"]]
        g = rec["attributes"]
        assert tracks[e["pid"]] == g[schema.HOLDER_PATH] and e["tid"] == chrome.TERMINAL_TID
        assert e["args"]["reason"] == g[schema.REASON]
        # the bar runs from the root's grant record to its release record of that hold id
        # (the same clock; the root's held_s is measured on another one, a few ms apart
        # on a loaded machine)
        assert e["dur"] == pytest.approx((ended[g[schema.HOLD_ID]] - rec["time_ns"]) / 1e3, abs=2)
    bars = {tracks[e["pid"]]: e for e in evs if e["ph"] == "X" and e.get("cat") == "actor"}
    assert bars["root/crasher"]["name"] == "root/crasher (crashed)"
    assert not bars["root/pauser0"]["name"].endswith("(crashed)")
    crash = [e for e in evs if e["ph"] == "i" and e["cat"] == "crash"]
    assert [tracks[e["pid"]] for e in crash] == ["root/crasher"]
    assert crash[0]["name"] == "crash: RuntimeError: crasher went down"
    assert all(
        e["ts"] >= 0 for e in evs if "ts" in e and e.get("name") != "waiting for the terminal"
    )


def test_actor_filter(runs: dict[str, Path]) -> None:
    path = str(runs["multi_pause_crash"])
    proc = timeline(path, "--actor", "root/crasher")
    assert proc.returncode == 0, proc.stderr
    sec = sections(proc.stdout)
    assert "only actors under root/crasher" in sec["header"]
    assert [line.split()[0] for line in sec["actors"] if line.startswith("  ")] == ["root/crasher"]
    got = holds_of(proc.stdout)
    assert [h.path for h in got] == ["root/crasher"] and got[0].reason == "crash"
    events = [EVENT.match(line) for line in sec["events"] if line.startswith("  ")]
    assert events and {m[2] for m in events if m} == {"root/crasher"}
    # the root and its subtree: everything; two actors: both
    assert timeline(path, "--actor", "root").stdout.replace("only actors under root\n", "") == (
        timeline(path).stdout
    )
    two = timeline(path, "--actor", "root/pauser0", "--actor", "root/pauser1")
    listed = [ln.split()[0] for ln in sections(two.stdout)["actors"] if ln.startswith("  ")]
    assert listed == ["root/pauser0", "root/pauser1"]
    # no such actor: say which there are
    none = timeline(path, "--actor", "root/nobody")
    assert none.returncode == 1 and none.stdout == ""
    assert "no actor 'root/nobody'" in none.stderr and "root/pauser0" in none.stderr


def test_width_follows_the_terminal(runs: dict[str, Path]) -> None:
    """Free text is cut to the terminal's width, not to a fixed 100 columns; --width 0
    never cuts."""
    import pexpect

    path = str(runs["multi_pause_crash"])

    def on_a_terminal(cols: int, *args: str) -> list[str]:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "devx.cli", "timeline", path, "--color", "never", *args],
            env=_env(),
            encoding="utf-8",
            timeout=scaled(10),
            dimensions=(50, cols),
        )
        try:
            out = child.read()
        finally:
            child.close()
        assert child.exitstatus == 0, out
        return out.replace("\r\n", "\n").splitlines()

    def crash_line(lines: list[str]) -> str:
        found = [EVENT.match(ln) for ln in sections("\n".join(lines))["events"]]
        (line,) = [m[0] for m in found if m and m[3].strip() == "crash"]
        return line

    narrow, wide = on_a_terminal(60), on_a_terminal(200)
    assert crash_line(narrow).endswith("…") and len(crash_line(narrow)) <= 60
    assert crash_line(wide).endswith("RuntimeError: crasher went down")
    assert max(len(ln) for ln in sections("\n".join(narrow))["events"]) <= 60
    assert crash_line(on_a_terminal(60, "--width", "0")) == crash_line(wide)


def test_html_page(runs: dict[str, Path], tmp_path: Path) -> None:
    """--html: one self-contained page (no script, no URL fetched): a lane per actor,
    each hold a bar with its details on hover, the crashing actor's lifetime red, the
    crash a mark."""
    import xml.etree.ElementTree as ET

    path = runs["multi_pause_crash"]
    out = tmp_path / "session.html"
    proc = timeline(str(path), "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    ns = "{http://www.w3.org/2000/svg}"

    def title(el: ET.Element) -> str:
        t = el.find(f"{ns}title")
        return "" if t is None else t.text or ""

    lanes = [t.text for g in svg.iter(f"{ns}g") for t in g.iter(f"{ns}text")]
    spans = readback.load_spans(path)
    assert sorted(lanes) == sorted(
        {s["attributes"]["devx.actor.path"] for s in spans if s["name"] == "devx.actor"}
    )
    assert lanes[0] == "root"
    holds = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "hold"]
    hold_titles = sorted(title(r).splitlines()[0] for r in holds)
    want = [g["attributes"] for g in grants(path)]
    assert hold_titles == sorted(
        f"hold #{g[schema.HOLD_ID]} by {g[schema.HOLDER_PATH]}" for g in want
    )
    crashed = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "actor crashed"]
    assert [title(r).split(" ")[0] for r in crashed] == ["root/crasher"]
    marks = [m for m in svg.iter(f"{ns}path") if "crash" in (m.get("class") or "").split()]
    assert len(marks) == 1 and "RuntimeError: crasher went down" in title(marks[0])
    # red only from the crash on: grey up to the crash mark, red from there
    crash_x = float(marks[0].get("d", "M0,").removeprefix("M").split(",")[0])
    (red,) = crashed
    assert abs(float(red.get("x", "0")) - crash_x) < 0.2
    (grey,) = [
        r
        for r in svg.iter(f"{ns}rect")
        if r.get("class") == "actor" and title(r).startswith("root/crasher ")
    ]
    grey_end = float(grey.get("x", "0")) + float(grey.get("width", "0"))
    assert abs(grey_end - crash_x) < 0.2 and grey.get("fill") != red.get("fill")

    # the legend names every colour drawn, and only those
    legend = set(re.findall(r'<span data-color="([^"]+)">', page))
    assert legend == colours_drawn(svg), (legend, colours_drawn(svg))
    assert_ticks_inside(svg)


def colours_drawn(svg: Any) -> set[str]:
    """The colours of the bars and marks as seen (a translucent fill as #rrggbbaa)."""
    out = set()
    for el in svg.iter():
        if el.get("class") in (None, "bg", "tick", "lane") or el.tag.endswith(("text", "line")):
            continue
        color = el.get("fill") if el.get("fill") not in (None, "none") else el.get("stroke")
        assert color is not None, el.attrib
        color = {"#fff": "#ffffff"}.get(color, color)
        opacity = el.get("opacity")
        out.add(color if opacity is None else f"{color}{round(float(opacity) * 255):02x}")
    return out


CHAR_W = 7.3  # the page's own estimate of a 12px monospace character


def assert_ticks_inside(svg: Any) -> None:
    """No axis label reaches past the drawing (they were clipped at the right)."""
    width = float(svg.get("width"))
    ns = "{http://www.w3.org/2000/svg}"
    ticks = [t for t in svg.iter(f"{ns}text") if t.get("class") == "tick"]
    assert len(ticks) == 11
    for t in ticks:
        x, w = float(t.get("x")), len(t.text or "") * CHAR_W
        left = {"start": x, "end": x - w}.get(t.get("text-anchor"), x - w / 2)
        assert 0 <= left and left + w <= width, (t.text, t.get("text-anchor"), x, width)


def test_html_page_fits_deep_paths_in_the_width_asked(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """A deep tree path neither runs into the bars nor widens the page past --width:
    the label column grows for it up to a limit, the rest is cut from the left (the
    whole path on hover)."""
    import xml.etree.ElementTree as ET

    deep = "root/" + "level/" * 14 + "crasher"
    recorded = tmp_path / "deep.otlp.jsonl"
    recorded.write_text(
        runs["multi_pause_crash"].read_text().replace('"root/crasher"', f'"{deep}"')
    )
    for width in (900, 1600):
        out = tmp_path / f"deep{width}.html"
        proc = timeline(str(recorded), "--html", str(out), "--width", str(width))
        assert proc.returncode == 0, proc.stderr
        page = out.read_text()
        svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
        ns = "{http://www.w3.org/2000/svg}"
        assert float(svg.get("width")) == width
        axis_x = min(float(t.get("x")) for t in svg.iter(f"{ns}text") if t.get("class") == "tick")
        labels = {
            t.find(f"{ns}title").text: t.text
            for g in svg.iter(f"{ns}g")
            for t in g.iter(f"{ns}text")
        }
        assert deep in labels and "root" in labels
        for full, shown in labels.items():
            assert 6 + len(shown) * CHAR_W <= axis_x, (shown, axis_x)  # clear of the bars
            assert shown == full or (shown.startswith("\u2026") and full.endswith(shown[1:]))
        assert (labels[deep] == deep) == (width == 1600)  # cut only where it must be
        for el in svg.iter(f"{ns}rect"):
            if el.get("class") not in (None, "bg"):
                assert float(el.get("x")) >= axis_x - 0.1, el.attrib
        assert_ticks_inside(svg)
