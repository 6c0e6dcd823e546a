"""The default telemetry directory does not grow without end, and a clean run says
nothing about its file: the retention rule on real files, and real trees."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_tel_tree import files_under, run_scenario

from devx.core import settings
from devx.telemetry import retention

pytestmark = pytest.mark.timeout(90)
DAY = 86400.0


def make(directory: Path, name: str, age_s: float, now: float) -> Path:
    path = directory / name
    path.write_text("{}\n")
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_prune_keeps_the_newest_and_the_young(tmp_path: Path) -> None:
    now = time.time()
    busy = make(tmp_path, "busy.otlp.jsonl", 5, now)  # just written
    young = [make(tmp_path, f"y{i}.otlp.jsonl", 60 + i * 3600, now) for i in range(3)]
    files = [make(tmp_path, f"t{i}.otlp.jsonl", DAY + 120 + i * 3600, now) for i in range(6)]
    old = make(tmp_path, "old.otlp.jsonl", 8 * DAY, now)
    other = make(tmp_path, "notes.txt", 30 * DAY, now)  # not a telemetry file
    (tmp_path / "link.otlp.jsonl").symlink_to(files[0])  # never followed nor removed
    # a tree idle for two days still has its file open: never removed
    hung = make(tmp_path, "hung.otlp.jsonl", 2 * DAY + 60, now)
    with open(hung, "a"):
        removed = retention.prune(str(tmp_path), keep=2, keep_days=7, now=now)
    # newest first: busy, y0..y2, t0..t5, hung, old. Only 2 to keep, but nothing under a
    # day old goes (busy, the y's); t0..t5 go for count, old for age; hung is open
    assert sorted(removed) == sorted(map(str, [*files, old]))
    assert busy.exists() and all(p.exists() for p in young) and hung.exists()
    assert other.exists() and (tmp_path / "link.otlp.jsonl").is_symlink()
    assert retention.prune(str(tmp_path), keep=2, keep_days=7, now=now) == [str(hung)]
    files = [make(tmp_path, f"t{i}.otlp.jsonl", DAY + 120 + i * 3600, now) for i in range(6)]

    # the tree's own file is spared whatever its rank; 0 turns a limit off
    spare = make(tmp_path, "mine.otlp.jsonl", 20 * DAY, now)
    assert retention.prune(str(tmp_path), keep=0, keep_days=0, spare=str(spare), now=now) == []
    assert retention.prune(str(tmp_path), keep=1, keep_days=0, spare=str(spare), now=now) == [
        str(p) for p in files
    ]
    assert spare.exists()


def test_own_file_created_during_the_pass_still_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root prunes while its writer creates the tree's file: a file created after
    the listing is still the newest, so the rule keeps ``keep`` files, not one more
    (a race seen in CI: x1 of the clean-run test below was left)."""
    now = time.time()
    extra = [make(tmp_path, f"x{i}.otlp.jsonl", DAY + 600 + i, now) for i in range(3)]
    mine = tmp_path / "mine.otlp.jsonl"
    real_listdir = os.listdir

    def listdir_then_writer_creates(path: str) -> list[str]:
        names = real_listdir(path)
        mine.write_text("")  # the writer thread wins the race right here
        return names

    monkeypatch.setattr(retention.os, "listdir", listdir_then_writer_creates)
    removed = retention.prune(str(tmp_path), keep=2, keep_days=7, spare=str(mine), now=now)
    assert sorted(removed) == [str(extra[1]), str(extra[2])]


def test_roots_prune_a_directory_at_most_once_a_minute(tmp_path: Path) -> None:
    """A pass stats every file (thousands on a busy machine), so a root skips it when
    another pass started there less than a minute ago; the stamp is never followed."""
    now = time.time()
    old = make(tmp_path, "old.otlp.jsonl", 9 * DAY, now)
    assert retention.prune_now_and_then(str(tmp_path), keep=0, keep_days=7) == [str(old)]
    later = make(tmp_path, "later.otlp.jsonl", 8 * DAY, now)
    assert retention.prune_now_and_then(str(tmp_path), keep=0, keep_days=7) is None
    assert later.exists()
    stamp = tmp_path / retention.STAMP
    os.utime(stamp, (now - 2 * retention.EVERY_S, now - 2 * retention.EVERY_S))
    assert retention.prune_now_and_then(str(tmp_path), keep=0, keep_days=7) == [str(later)]
    assert stamp.stat().st_mtime > now - retention.EVERY_S

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    os.utime(elsewhere, (now - DAY, now - DAY))
    stamp.unlink()
    stamp.symlink_to(elsewhere)
    gone = make(tmp_path, "gone.otlp.jsonl", 8 * DAY, now)
    assert retention.prune_now_and_then(str(tmp_path), keep=0, keep_days=7) == [str(gone)]
    assert elsewhere.stat().st_mtime < now - 3600 and stamp.is_symlink()


def test_limits_from_the_environment() -> None:
    s = settings.resolve({})
    assert (s.telemetry_keep, s.telemetry_keep_days) == (50, 7.0)
    s = settings.resolve({"DEVX_TELEMETRY_KEEP": "3", "DEVX_TELEMETRY_KEEP_DAYS": "0.5"})
    assert (s.telemetry_keep, s.telemetry_keep_days) == (3, 0.5)
    with pytest.raises(settings.SettingsError, match="DEVX_TELEMETRY_KEEP='many'"):
        settings.resolve({"DEVX_TELEMETRY_KEEP": "many"})


def test_clean_run_is_quiet_and_prunes_the_default_directory(tmp_path: Path) -> None:
    """A tree that exits cleanly, with no REPL, crash or dump, writes its default file
    without a word; its exit prunes the directory by the rule."""
    directory = tmp_path / "tmp" / f"devx-telemetry-{os.getuid()}"
    directory.mkdir(parents=True, mode=0o700)
    now = time.time()
    stale = make(directory, "stale.otlp.jsonl", 9 * DAY, now)
    extra = [make(directory, f"x{i}.otlp.jsonl", DAY + 600 + i, now) for i in range(3)]
    proc, _ = run_scenario("tree", tmp_path, DEVX_TELEMETRY_FILE=None, DEVX_TELEMETRY_KEEP="2")
    assert proc.returncode == 0, proc.stderr
    assert "telemetry written" not in proc.stderr, proc.stderr
    assert (directory / retention.STAMP).is_file()  # the pass ran, and said when
    left = [p for p in files_under(directory) if p.name != retention.STAMP]
    assert not stale.exists() and extra[0] in left and extra[2] not in left
    (_mine,) = [p for p in left if p.name.startswith("troot-")]
    assert len(left) == 2  # its own and the newest other


def test_a_root_that_never_spawns_prunes_too(tmp_path: Path) -> None:
    """A root's pass follows its telemetry load, which waits for its first spawn: a
    root that never spawns and ends at once still runs it, on its way out."""
    directory = tmp_path / "tmp" / f"devx-telemetry-{os.getuid()}"
    directory.mkdir(parents=True, mode=0o700)
    now = time.time()
    stale = make(directory, "stale.otlp.jsonl", 9 * DAY, now)
    young = make(directory, "young.otlp.jsonl", 600, now)
    proc, _ = run_scenario("idle", tmp_path, DEVX_TELEMETRY_FILE=None)
    assert proc.returncode == 0 and "root: idle done" in proc.stdout, proc.stderr
    assert (directory / retention.STAMP).is_file()  # the pass ran
    assert not stale.exists() and young.exists()
    assert [p.name for p in files_under(directory) if p.name.startswith("iroot-")]


def test_notice_when_asked_or_when_something_happened(tmp_path: Path) -> None:
    asked, _ = run_scenario(
        "tree", tmp_path / "a", DEVX_TELEMETRY_FILE=None, DEVX_TELEMETRY_NOTICE="1"
    )
    assert asked.returncode == 0 and "devx: telemetry written to " in asked.stderr
    crashed, _ = run_scenario("crash", tmp_path / "b", DEVX_TELEMETRY_FILE=None)
    assert "devx: telemetry written to " in crashed.stderr, crashed.stderr
