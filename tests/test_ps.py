"""``devx ps`` lists every running tree of the user (issue 25, item 9), with or
without stack dumps and debug mode: each root advertises itself in the private
runtime directory while it runs (devx.debug.tree_file). Real trees, a real ``devx``
command, the files as the roots write them."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from conftest import scaled, wait_until
from devx import cli
from devx.debug import tree_file
from test_stack_support import PY, Env, devx_cli
from test_stack_support import dump_env as dump_env  # fixture

pytestmark = pytest.mark.timeout(120)

SCRIPT = str(Path(__file__).parent / "scripts" / "ps_tree.py")


def _start(env: Env, name: str, *flags: str, children: int = 2) -> int:
    tree = env.start([PY, SCRIPT, "--name", name, f"--children={children}", *flags], name=name)
    (m,) = tree.wait_lines(r"^READY (\d+)$", 1, scaled(30))
    return int(m[1])


def _adverts(env: Env, monkeypatch: pytest.MonkeyPatch) -> dict[int, tree_file.TreeAdvert]:
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(env.runtime_dir))
    return {t.pid: t for t in tree_file.trees()}


def _trees_table(out: str) -> dict[str, dict[str, str]]:
    """The trees section of `devx ps` (its first), as rows by tree name, cut where the
    header's left-aligned columns start (PID, AGE and ACTORS are right-aligned)."""
    header, *lines = out.split("\n\n")[0].splitlines()
    assert header.split() == list(cli.TREE_COLUMNS), out
    at = {c: header.index(c) for c in ("STARTED", "TREE", "UID", "MODE", "COMMAND")}
    rows = {}
    for ln in lines:
        pid, age = ln[: at["STARTED"]].split()
        uid, actors = ln[at["UID"] : at["MODE"]].split()
        row = {
            "PID": pid,
            "AGE": age,
            "STARTED": ln[at["STARTED"] : at["TREE"]].strip(),
            "TREE": ln[at["TREE"] : at["UID"]].strip(),
            "UID": uid,
            "ACTORS": actors,
            "MODE": ln[at["MODE"] : at["COMMAND"]].strip(),
            "COMMAND": ln[at["COMMAND"] :],
        }
        rows[row["TREE"]] = row
    return rows


def test_every_running_tree_is_listed_with_how_it_runs(
    dump_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain tree (no debug mode, no dumps) and a debug tree taking dumps are both
    listed while they run, with their actors and mode; a tree that exited is not,
    and its root removed its file."""
    plain = _start(dump_env, "plainps")
    loud = _start(dump_env, "loudps", "--debug", "--dumps", children=1)

    def counted() -> dict[int, tree_file.TreeAdvert] | None:
        got = _adverts(dump_env, monkeypatch)
        ok = plain in got and loud in got and got[plain].actors == 3 and got[loud].actors == 2
        return got if ok else None

    adverts = wait_until(counted, scaled(15), "both trees advertised with their actors")
    assert not adverts[plain].debug and adverts[loud].debug

    res = devx_cli(dump_env, "ps")
    assert res.returncode == 0, res.stderr
    rows = _trees_table(res.stdout)
    assert set(rows) == {"plainps", "loudps"}, res.stdout
    assert rows["plainps"]["PID"] == str(plain) and rows["loudps"]["PID"] == str(loud)
    assert (rows["plainps"]["ACTORS"], rows["plainps"]["MODE"]) == ("3", "-")
    assert (rows["loudps"]["ACTORS"], rows["loudps"]["MODE"]) == ("2", "debug,dumps")
    assert rows["plainps"]["UID"].startswith("plainps@")
    assert re.fullmatch(r"\d\d:\d\d:\d\d|\w{3} \d\d", rows["plainps"]["STARTED"]), rows
    assert rows["plainps"]["COMMAND"].endswith("ps_tree.py --name plainps --children=2")
    # the dump table lists the loud tree's processes only (the plain one takes none)
    assert "stack dumps enabled" in res.stdout
    assert str(loud) in res.stdout.split("stack dumps enabled")[1]

    # the plain tree ends (ctrl-c): gone from the list, its file too
    (plain_tree,) = [t for t in dump_env.trees if t.pid == plain]
    plain_file = dump_env.runtime_dir / f"tree-{adverts[plain].root_uuid}.json"
    assert plain_file.exists()
    os.kill(plain, signal.SIGINT)
    plain_tree.proc.wait(scaled(30))
    assert not plain_file.exists()  # removed by its root at exit, not by a reader
    res = devx_cli(dump_env, "ps")
    assert set(_trees_table(res.stdout)) == {"loudps"}, res.stdout


def test_a_sigkilled_root_is_not_shown_as_live(
    dump_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL leaves the root's file behind: `devx ps` does not list it and removes
    it; nothing else running, it says so."""
    pid = _start(dump_env, "killedps", children=1)
    advert = wait_until(
        lambda: _adverts(dump_env, monkeypatch).get(pid), scaled(15), "the tree advertised"
    )
    left = dump_env.runtime_dir / f"tree-{advert.root_uuid}.json"
    os.kill(pid, signal.SIGKILL)
    (tree,) = dump_env.trees
    tree.proc.wait(scaled(30))
    assert json.loads(left.read_text())["pid"] == pid  # still there: nobody removed it
    res = devx_cli(dump_env, "ps")
    assert res.returncode == 0 and res.stdout == "", res.stdout
    assert "no devx tree of yours is running" in res.stderr
    assert not left.exists()


def test_a_reused_pid_is_not_taken_for_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file naming a live pid whose process started at another time (the root died
    and its pid went to another process) is stale: ignored and removed."""
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    monkeypatch.setenv("DEVX_RUNTIME_DIR", str(rt))
    from devx.debug.stack import registry as reg

    here = reg.proc_start_time(os.getpid())
    assert here is not None
    for uuid, start in (("a" * 32, here), ("b" * 32, here + 1)):
        data = {"v": 1, "pid": os.getpid(), "start_time": start, "name": uuid[:1], "uid": "x"}
        (rt / f"tree-{uuid}.json").write_text(json.dumps(data))
    assert [t.name for t in tree_file.trees()] == ["a"]
    assert sorted(p.name for p in rt.iterdir()) == [f"tree-{'a' * 32}.json"]


def test_rewrites_are_atomic_for_readers(tmp_path: Path) -> None:
    """A root rewrites its advert (the actor count) by swapping a new file in
    (``renameat2`` RENAME_EXCHANGE on Linux: a rename over the old file makes ext4
    allocate the new one's blocks, and removing it at exit then costs the root's
    trio thread 0.3-5 ms). A reader meanwhile always finds the file, whole, and
    never an older version than one it saw; nothing else is left beside it."""
    import threading

    from devx.debug.stack import registry as reg

    path = str(tmp_path / "tree-x.json")
    reg.write_json_private(path, {"seq": 0, "pad": "x" * 3000})
    done = threading.Event()
    seen: list[int] = []
    problems: list[str] = []

    def read() -> None:
        while not done.is_set():
            try:
                with open(path, "rb") as f:
                    seq = int(json.loads(f.read())["seq"])
            except (OSError, ValueError, KeyError) as exc:
                problems.append(repr(exc))
                continue
            if seen and seq < seen[-1]:
                problems.append(f"went back from {seen[-1]} to {seq}")
            seen.append(seq)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for seq in range(1, 301):
            reg.write_json_private(path, {"seq": seq, "pad": "y" * (seq % 7 * 500)})
    finally:
        done.set()
        reader.join()
    assert not problems, problems[:5]
    assert seen, "the reader never read the file"
    assert json.loads(Path(path).read_text())["seq"] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree-x.json"]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_root_blocked_before_its_first_spawn_is_listed_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A root whose loop blocks before its first spawn (sync work, ``input()``, a
    hang: what ``devx ps`` is for) is listed all the same, and its telemetry file
    holds its start records: neither waits for the loop (review of 659a8c5/78f2904)."""
    import subprocess

    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    tel = tmp_path / "tree.otlp.jsonl"
    env = {**os.environ, "DEVX_RUNTIME_DIR": str(rt), "DEVX_TELEMETRY_FILE": str(tel)}
    script = str(Path(__file__).parent / "scripts" / "root_blocked_before_spawn.py")
    proc = subprocess.Popen(
        [PY, script],
        env=env,
        cwd=tmp_path,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "BLOCKED"
        monkeypatch.setenv("DEVX_RUNTIME_DIR", str(rt))
        listed = wait_until(
            lambda: [t for t in tree_file.trees() if t.pid == proc.pid] or None,
            scaled(10),
            "the blocked root listed by devx ps",
        )
        assert listed[0].actors == 1, listed  # its root: a count, not `?` (None)

        def names() -> set[str] | None:
            found: set[str] = set()
            for line in tel.read_text().splitlines() if tel.exists() else ():
                for rs in json.loads(line).get("resourceSpans", []):
                    for ss in rs["scopeSpans"]:
                        found.update(s["name"] for s in ss["spans"])
            return found if {"devx.tree.start", "devx.actor.start"} <= found else None

        wait_until(names, scaled(10), "the blocked root's start records in its file")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "RESULT 1"
        assert proc.wait(scaled(30)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


MULTILINE_ROOT = """import sys, trio, devx
async def main():
\tasync with devx.open_root_actor(name="multiline", telemetry="off"):
\t\tprint("READY", flush=True)
\t\tawait trio.to_thread.run_sync(sys.stdin.readline)
trio.run(main)
"""


def test_a_command_line_with_newlines_is_one_row(tmp_path: Path) -> None:
    """A root started as ``python -c SCRIPT`` (a script of several lines): its row's
    COMMAND shows the script on one line, escaped as ``ps`` would, where the raw
    newlines spread the row over the script's lines."""
    import subprocess

    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    env = {**os.environ, "DEVX_RUNTIME_DIR": str(rt), "DEVX_TELEMETRY_FILE": "off"}
    proc = subprocess.Popen(
        [PY, "-c", MULTILINE_ROOT],
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "READY"

        def listed() -> str | None:
            res = subprocess.run(
                [PY, "-m", "devx", "ps"],
                env=env,
                capture_output=True,
                text=True,
                timeout=scaled(20),
            )
            return res.stdout if "multiline" in res.stdout else None

        out = wait_until(listed, scaled(10), "the root listed by devx ps")
        trees = out.split("\n\n")[0].splitlines()
        assert len(trees) == 2, out  # the header, one row
        escaped = MULTILINE_ROOT.encode("unicode_escape").decode()  # \n, \t as text
        assert trees[1].endswith(f"-c {escaped}"), out
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(scaled(30)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_root_that_ends_before_its_first_write_leaves_no_advert(tmp_path: Path) -> None:
    """The first advert waits (on its own thread) for the root's first spawn: a root
    that never spawns and ends at once lets it go on its way out, waits for it and
    removes the file, so nothing is left for `devx ps` to clean."""
    import subprocess

    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    code = (
        "import trio, devx\n"
        "async def main():\n"
        "    async with devx.open_nursery(name='brief'):\n"
        "        pass\n"
        "    print('DONE', flush=True)\n"
        "trio.run(main)\n"
    )
    for _ in range(3):
        proc = subprocess.run(
            [PY, "-c", code],
            env={**os.environ, "DEVX_RUNTIME_DIR": str(rt), "DEVX_TELEMETRY_FILE": "off"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
        assert proc.returncode == 0 and proc.stdout == "DONE\n", proc.stderr
        assert not [p.name for p in rt.iterdir() if p.name.startswith(tree_file.PREFIX)]
        assert not [p.name for p in rt.iterdir() if p.name.endswith(".tmp")]


def test_a_value_that_is_not_utf8_is_written_as_the_stdlib_would(tmp_path: Path) -> None:
    """Bytes of ``os.environ``/``sys.argv`` that are not UTF-8 reach Python as lone
    surrogates (a ``DEVX_HANG_TAG``, a script's name): msgspec refuses to encode them,
    the files are still written (escaped, as ``json.dumps`` does; every reader parses
    with the stdlib); a value no JSON can hold fails before any file is made."""
    from devx.debug.stack import registry as reg

    tag = os.fsdecode(b"test_caf\xe9")
    path = str(tmp_path / "tree-x.json")
    reg.write_json_private(path, {"tag": tag})
    assert json.loads(Path(path).read_text())["tag"] == tag
    with pytest.raises(TypeError):
        reg.write_json_private(str(tmp_path / "tree-y.json"), {"bad": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree-x.json"]


@pytest.mark.parametrize("how", ["open", "another uid's", "missing parent"])
def test_an_unusable_runtime_directory_is_named_with_what_to_do(tmp_path: Path, how: str) -> None:
    """The private runtime directory squatted by another local user (or opened to
    others), or one that cannot be made (its parent missing): devx never uses it, so
    no tree of yours shows anywhere. The root says so once and `devx ps`/`dump`/
    `attach` say why, where they said "no devx tree of yours is running (runtime
    directory: (none yet))" and the root nothing (or died of a traceback)."""
    import subprocess

    if how == "another uid's" and os.geteuid() != 0:
        pytest.skip("needs root to make a directory of another uid")
    rt = tmp_path / "rt"
    if how == "missing parent":  # a typo'd DEVX_RUNTIME_DIR: it cannot be made
        rt = tmp_path / "nope" / "rt"
        said = f"the private runtime directory {rt} does not exist and cannot be made"
    else:
        rt.mkdir(mode=0o700)
        if how == "open":
            rt.chmod(0o755)
            why = "is open to others (mode 0755; `chmod 700` it)"
        else:
            os.chown(rt, 65534, 65534)
            why = "is owned by uid 65534, not by you"
        said = f"the private runtime directory {rt} {why}: devx never uses it"
    env = {**os.environ, "DEVX_RUNTIME_DIR": str(rt), "DEVX_TELEMETRY_FILE": "off"}
    code = (
        "import trio, devx\n"
        "async def main():\n"
        "    async with devx.open_nursery(name='hidden') as an:\n"
        "        await an.start_actor('kid')\n"
        "        await an.cancel()\n"
        "trio.run(main)\n"
    )
    proc = subprocess.run(
        [PY, "-c", code], env=env, capture_output=True, text=True, timeout=scaled(30)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(said) == 1, proc.stderr
    for args in (["ps"], ["dump", "hidden"], ["attach"]):
        got = subprocess.run(
            [PY, "-m", "devx", *args], env=env, capture_output=True, text=True, timeout=scaled(30)
        )
        assert said in got.stderr and "DEVX_RUNTIME_DIR" in got.stderr, (args, got.stderr)


@pytest.mark.parametrize("args", [["ps"], ["dump", "hidden"], ["attach"]])
def test_a_bad_setting_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """A malformed DEVX_* variable: the command says which, in one line (exit 2),
    where it died of a SettingsError traceback."""
    import subprocess

    env = {**os.environ, "DEVX_RUNTIME_DIR": str(tmp_path), "DEVX_CANCEL_GRACE": "3s"}
    got = subprocess.run(
        [PY, "-m", "devx", *args], env=env, capture_output=True, text=True, timeout=scaled(30)
    )
    assert got.returncode == 2, got.stderr
    assert got.stderr.splitlines() == [
        "devx: DEVX_CANCEL_GRACE='3s': expected a finite number of seconds > 0 (e.g. 3 or 0.5)"
        " (`devx settings --check` validates them all)"
    ], got.stderr


def _ps_on_a_terminal(env: Env, *args: str) -> list[str]:
    """`devx ps` on an 80x24 PTY (its own size: COLUMNS and LINES unset), its lines."""
    import pexpect

    vars = {k: v for k, v in env.vars.items() if k not in ("COLUMNS", "LINES")}
    child = pexpect.spawn(
        PY, ["-m", "devx.cli", "ps", *args], env=vars, encoding="utf-8", dimensions=(24, 80)
    )
    out = child.read()  # up to its end
    child.close()
    assert child.exitstatus == 0, out
    return out.replace("\r", "").splitlines()


def test_a_long_command_is_cut_to_the_terminal_and_whole_in_a_pipe(dump_env: Env) -> None:
    """trial6's O5: the COMMAND cell was never cut, so at 80 columns a tree's command
    line wrapped the table. On a terminal it ends in … at the terminal's width; piped
    (scripts grep it) and with --width 0 it is whole; --width N cuts at N."""
    pid = _start(dump_env, "wideps", "--dumps", children=1)
    whole = devx_cli(dump_env, "ps")
    assert whole.returncode == 0, whole.stderr
    full = _trees_table(whole.stdout)["wideps"]["COMMAND"]
    assert full.endswith("ps_tree.py --name wideps --children=1 --dumps"), whole.stdout

    lines = _ps_on_a_terminal(dump_env)
    assert all(len(ln) <= 80 for ln in lines), "\n".join(ln for ln in lines if len(ln) > 80)
    rows = _trees_table("\n".join(lines))
    cut = rows["wideps"]["COMMAND"]
    assert cut.endswith("…") and full.startswith(cut[:-1]), (cut, full)
    dumps = [ln for ln in lines if ln.lstrip().startswith(f"{pid} ")]
    # its row in both tables (trees, stack dumps) is cut
    assert len(dumps) == 2 and all(ln.endswith("…") for ln in dumps), lines

    assert (
        _trees_table("\n".join(_ps_on_a_terminal(dump_env, "--width", "0")))["wideps"]["COMMAND"]
        == full
    )
    narrow = devx_cli(dump_env, "ps", "--width", "70")
    assert all(len(ln) <= 70 for ln in narrow.stdout.splitlines()), narrow.stdout
    assert _trees_table(narrow.stdout)["wideps"]["COMMAND"].endswith("…"), narrow.stdout
    bad = devx_cli(dump_env, "ps", "--width", "-1")
    assert bad.returncode != 0 and "no whole number" in bad.stderr, bad.stderr
