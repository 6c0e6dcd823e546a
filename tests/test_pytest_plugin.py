"""The pytest plugin (``devx_pytest``, entry point ``pytest11: devx``), through a real
pytest run of examples/ci/hung_project: a hung three-level tree and a hung tree in a
subprocess are dumped, reported, failed and torn down; the next test passes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, devx_actor_pids, scaled, wait_gone
from devx.debug.stack import registry as reg

PROJECT = Path(__file__).resolve().parents[1] / "examples" / "ci" / "hung_project"
TREE = ["hung", "hung/blocker", "hung/mid", "hung/mid/leaf"]
SCRIPT_TREE = ["hung_script", "hung_script/child"]

pytestmark = pytest.mark.timeout(240)


def _expected(paths: list[str]) -> list[str]:
    """The files of a test's dump directory: one per actor, and the summary."""
    return sorted([*(f"{p.replace('/', '.')}.txt" for p in paths), "summary.txt"])


def _dumped(dumps: Path, test: str) -> list[str]:
    where = dumps / f"test_hung.py_{test}"
    return sorted(p.name for p in where.iterdir()) if where.is_dir() else []


def _run_hung_project(tmp_path: Path, timeout: float) -> tuple[Any, ...]:
    """One pytest run of the hung project with ``--devx-hang-timeout=timeout``."""
    proj = tmp_path / "proj"
    if not proj.exists():
        shutil.copytree(PROJECT, proj)
    run = tmp_path / f"run-{timeout:g}"
    hung, dumps, tel = run / "hung", run / "dumps", run / "tel.otlp.jsonl"
    hung.mkdir(parents=True)
    junit = run / "junit.xml"
    env = {**os.environ, "HUNG_DIR": str(hung), "DEVX_TELEMETRY_FILE": str(tel)}
    t0 = time.monotonic()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:timeout",  # works without pytest-timeout
            f"--devx-hang-timeout={timeout}",
            f"--devx-dump-dir={os.path.relpath(dumps, proj)}",  # relative, as the default
            f"--junitxml={junit}",
            "test_hung.py",
        ],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(60) + 4 * timeout,
    )
    return res, hung, dumps, tel, junit, time.monotonic() - t0


def test_hung_tests_are_dumped_reported_failed_and_torn_down(tmp_path: Path) -> None:
    before = devx_actor_pids()
    # every actor must be up when the plugin fires, or its dump is missing: the
    # dumps say whether they were (a busy machine boots slowly); if not, the run
    # proves nothing and goes again with twice the timeout
    for timeout in (scaled(3) * 2**k for k in range(3)):
        res, hung, dumps, tel, junit, elapsed = _run_hung_project(tmp_path, timeout)
        if _dumped(dumps, "test_tree_hangs") == _expected(TREE) and _dumped(
            dumps, "test_tree_in_subprocess"
        ) == _expected(SCRIPT_TREE):
            break
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "2 failed, 1 passed" in out, out  # the session went on: test_passes passed
    up = sorted(p.name for p in hung.iterdir())
    assert up == ["hung.blocker", "hung.mid.leaf", "hung_script.child"], up  # all hung

    # the failure output: hung after N s, every actor path, both hanging functions
    assert len(re.findall(rf"^hung after {timeout:g} s: ", out, re.M)) == 2, out
    # a relative dump dir is named as given (the README's `.devx-dumps/<test id>/`)
    shown = os.path.join(os.path.relpath(dumps, tmp_path / "proj"), "test_hung.py_test_tree_hangs")
    assert f"(every trio task and thread) to {shown}{os.sep}\n" in out, out
    assert "!!! KeyboardInterrupt !!!" not in out  # our interrupt never stops the session
    for path in TREE + SCRIPT_TREE:
        assert re.search(rf"^{re.escape(path)}  task '", out, re.M), (path, out)
    assert re.search(
        r"^hung/blocker  task '\S+block_the_loop_here' at test_hung\.py:\d+ in "
        r"block_the_loop_here \(blocks the loop\)$",
        out,
        re.M,
    ), out
    assert re.search(r"^hung/mid/leaf  task .* in park_forever_here$", out, re.M), out
    assert re.search(r"^hung_script/child  task .* in wait_in_script$", out, re.M), out
    assert "===== devx stack dump" not in out  # the detail is in files, not captured stderr

    # one file per actor under the dump dir, named by test id and tree path
    tree_dir = dumps / "test_hung.py_test_tree_hangs"
    assert _dumped(dumps, "test_tree_hangs") == _expected(TREE)
    leaf = (tree_dir / "hung.mid.leaf.txt").read_text()
    assert leaf.startswith(f"{reg.BEGIN_MARKER}: hung/mid/leaf ") and "park_forever_here" in leaf
    assert "time.sleep(3600)" in (tree_dir / "hung.blocker.txt").read_text()
    assert _dumped(dumps, "test_tree_in_subprocess") == _expected(SCRIPT_TREE)

    # JUnit XML carries the summary in each failure, and where the dumps are
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["test_passes"].find("failure") is None
    for name, paths in (("test_tree_hangs", TREE), ("test_tree_in_subprocess", SCRIPT_TREE)):
        failure = cases[name].find("failure")
        assert failure is not None, name
        text = (failure.get("message") or "") + (failure.text or "")
        assert f"hung after {timeout:g} s" in text
        assert all(f"\n{p}  task '" in text for p in paths), text
        props = {p.get("name"): p.get("value") for p in cases[name].iter("property")}
        assert props.get("devx_hang_dumps", "").startswith(str(dumps)), props
        # failed within the timeout plus a few seconds (the dumps, then the teardown)
        assert float(cases[name].get("time") or 0) < timeout + scaled(6)
    assert elapsed < 2 * (timeout + scaled(6)) + scaled(20)

    # the dumps are telemetry too: one devx.stack_dump log record per actor
    records = tel.read_text()
    for path in TREE + SCRIPT_TREE:
        assert re.search(rf'"devx\.actor\.path".{{0,40}}"{re.escape(path)}"', records), path
    assert records.count('"devx.stack_dump"') >= len(TREE + SCRIPT_TREE)

    # nothing left: no actor process, nothing registered with a test's tag
    assert not (devx_actor_pids() - before)
    assert not [e for e in reg.entries() if e.tag]


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # (no terminal, whatever the outer pytest has)
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )


def test_plugin_is_idle_without_a_timeout_and_can_be_turned_off(tmp_path: Path) -> None:
    """Loaded by its entry point, it changes nothing without a timeout (no environment,
    no thread); ``-p no:devx`` unloads it."""
    (tmp_path / "test_idle.py").write_text(
        "import os, threading\n"
        "def test_env():\n"
        "    assert 'DEVX_HANG_TAG' not in os.environ\n"
        "    assert 'DEVX_ENABLE_STACKSCOPE' not in os.environ\n"
        "    assert 'devx' not in __import__('sys').modules  # nothing of devx imported\n"
        "    assert not [t for t in threading.enumerate() if t.name.startswith('devx')]\n"
    )
    res = _pytest(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^plugins: .*\bdevx-", res.stdout, re.M), res.stdout
    res = _pytest(tmp_path, "-p", "no:devx", "--devx-hang-timeout=1")
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout + res.stderr
    assert "--devx-hang-timeout" in res.stderr


_PAUSING_TEST = (
    "import trio, devx\n"
    "async def work():\n"
    "    x = 41\n"
    "    await devx.pause()\n"
    "    await trio.sleep_forever()\n"
    "def test_pauses_then_hangs():\n"
    "    async def main():\n"
    "        async with devx.open_nursery(debug_mode=True) as an:\n"
    "            p = await an.run_in_actor(work, name='worker')\n"
    "            await p.result()\n"
    "    trio.run(main)\n"
)


def test_a_repl_is_the_users_time_not_the_tests(tmp_path: Path) -> None:
    """`pytest -s` with a hang timeout and a child that pauses: while its REPL is on
    the terminal the hang clock does not run (the child was dumped, then SIGKILLed
    under the user's prompt once the timeout and the teardown grace were over, and
    the root opened a crash REPL on ActorExited); once the REPL is left the clock
    starts again, and a test that then hangs is still caught."""
    from _pty import Repl, banner

    test = tmp_path / "test_pauses.py"
    test.write_text(_PAUSING_TEST)
    # (long enough for the tree to boot and pause on a busy machine: the clock runs
    # until the REPL holds the terminal; as in the nobody-attached test below, whose
    # clock must outlast the same boot and pause. Every second of it is waited out
    # twice: at the prompt, then by the hang after it)
    timeout, grace = round(scaled(3)), 1
    r = Repl(
        test,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:timeout",
        "-s",
        f"--devx-hang-timeout={timeout}",
        f"--devx-dump-dir={tmp_path / 'dumps'}",
        module="pytest",
        DEVX_HANG_TEARDOWN_GRACE=str(grace),
        DEVX_TELEMETRY_FILE="off",
    )
    try:
        r.expect(banner("PAUSE", "worker", "root/worker"))
        r.prompt()
        # the time under test: the deadline and the kill after it would have passed
        at_prompt = time.monotonic()
        while time.monotonic() < at_prompt + timeout + grace + scaled(2):
            time.sleep(0.1)
        assert r.cmd("p x").strip().endswith("41"), r.log.getvalue()
        r.child.sendline("c")
        r.expect_exact(f"hung after {timeout:g} s", timeout=scaled(30))
        r.finish()
        text = r.log.getvalue()
        assert "ActorExited" not in text and "SIGKILL" not in text, text
        assert "1 failed" in text, text
    finally:
        r.close()


def _pytest_attach_mode(
    proc_tree: Any, tmp_path: Path, timeout: float, *args: str, **env: str
) -> Any:
    """A pytest run (no terminal: its own session, stdin /dev/null) of a test whose
    child pauses, in attach mode (``DEVX_ATTACH=1``) with a hang timeout."""
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700, exist_ok=True)
    test = tmp_path / "test_pauses.py"
    test.write_text(_PAUSING_TEST)
    return proc_tree(
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:timeout",
        f"--devx-hang-timeout={timeout:g}",
        f"--devx-dump-dir={tmp_path / 'dumps'}",
        *args,
        str(test),
        cwd=str(tmp_path),
        DEVX_ATTACH="1",
        DEVX_RUNTIME_DIR=str(rt),
        DEVX_TELEMETRY_FILE="off",
        NO_COLOR="1",
        **env,
    )


def test_a_repl_nobody_attached_to_does_not_stop_the_clock(proc_tree, tmp_path: Path) -> None:
    """`DEVX_ATTACH=1` in a CI job nobody attaches to: the child's REPL waits for `devx
    attach` with nobody there, which is nobody's time. The clock held for it, so the
    job hung until the CI's own kill; now it fires, says that a REPL waited with
    nobody attached and how to attach, and the tree ends with no REPL on the way out
    (no actor left to SIGTERM or SIGKILL, no crash REPL waiting in its turn)."""
    before = devx_actor_pids()
    timeout = round(scaled(3))
    tree = _pytest_attach_mode(proc_tree, tmp_path, timeout)
    out, err = tree.communicate(scaled(60) + timeout)
    text = out + err
    assert tree.returncode == 1, text
    assert "1 failed" in text and f"hung after {timeout:g} s" in text, text
    assert re.search(
        r"^devx: root/worker's REPL \(pause at test_pauses\.py:4 in work\(\)\) was waiting "
        r"for `devx attach` with nobody attached .*: "
        rf"`devx attach {tree.pid}` from a terminal of yours",
        text,
        re.M,
    ), text
    assert "root: interrupted while root/worker's REPL waited for `devx attach`" in text
    assert "root/worker: the tree ends with nobody attached: no REPL" in text
    assert "SIGTERM" not in text and "SIGKILL" not in text and "killed" not in text, text
    assert "crash at" not in text, text  # no crash REPL waits for a client on the way out
    assert not wait_gone(devx_actor_pids() - before)


def test_an_attached_repl_is_the_users_time(proc_tree, tmp_path: Path) -> None:
    """The same run with a client attached: the clock holds while it is, past the
    timeout and the teardown grace, and starts again, whole, once the REPL is left."""
    from _pty import Repl, banner

    timeout = round(scaled(5))
    tree = _pytest_attach_mode(proc_tree, tmp_path, timeout, "-s", DEVX_HANG_TEARDOWN_GRACE="1")
    while "waiting for `devx attach`" not in tree.line(""):
        pass
    c = Repl("attach", str(tree.pid), module="devx", DEVX_RUNTIME_DIR=str(tmp_path / "rt"))
    try:
        c.expect(banner("PAUSE", "worker", "root/worker"))
        c.prompt()
        at_prompt = time.monotonic()
        while time.monotonic() < at_prompt + timeout + 1 + scaled(2):  # (the grace: 1 s)
            time.sleep(0.1)
        assert c.cmd("p x").strip().endswith("41"), c.log.getvalue()
        c.child.sendline("c")
        c.expect_exact("[devx attach] tree 'root'", timeout=scaled(30) + timeout)
        c.finish()
    finally:
        c.close()
    out, err = tree.communicate(scaled(30))
    text = out + err
    assert f"hung after {timeout:g} s" in text and "1 failed" in text, text
    assert "nobody attached" not in text, text  # it fired after the REPL was left
    assert "SIGKILL" not in text and "ActorExited" not in text, text


# A user's project: its conftest logs every module ast parses off the main thread (what
# pytest's assertion rewriting does for a rewritten module), its test runs a tree and
# lists the devx modules pytest's rewrite hook loaded.
_PARSE_LOGGER = """
import ast, json, os, threading

_parse = ast.parse

def parse(source, filename="<unknown>", *args, **kwargs):
    if threading.current_thread() is not threading.main_thread():
        with open(os.environ["PARSE_LOG"], "a") as f:
            f.write(json.dumps([threading.current_thread().name, str(filename)]) + "\\n")
    return _parse(source, filename, *args, **kwargs)

ast.parse = parse
"""
_A_TREE = """
import sys
import trio
import devx

def double(x):
    return 2 * x

def test_a_tree():
    async def main():
        async with devx.open_nursery(name="user") as an:
            portal = await an.start_actor("w", enable_modules=[__name__])
            assert await portal.run(double, x=21) == 42
            await portal.cancel_actor()

    trio.run(main)
    rewritten = sorted(
        name for name, mod in sys.modules.items()
        if name.split(".")[0] == "devx"
        and type(getattr(mod, "__loader__", None)).__name__ == "AssertionRewritingHook"
    )
    print("REWRITTEN", rewritten)
"""


def test_devx_is_not_assertion_rewritten_in_a_users_suite(tmp_path: Path) -> None:
    """pytest would rewrite every devx module (the plugin's distribution), parsing it
    with ast, also on devx's own threads (the telemetry sink loads on one): CPython
    3.11's AST conversion is not thread-safe, so a user's suite failed at random with
    'SystemError: AST constructor recursion depth mismatch'. devx is imported plain:
    nothing is parsed off the main thread, no devx module comes from the rewrite hook
    (also true when a cached rewritten .pyc would have spared the parse)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "conftest.py").write_text(_PARSE_LOGGER)
    (proj / "test_tree.py").write_text(_A_TREE)
    log = tmp_path / "parsed.jsonl"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_tree.py"],
        cwd=proj,
        env=clean_env(PARSE_LOG=str(log)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "REWRITTEN []" in res.stdout, res.stdout
    parsed = log.read_text().splitlines() if log.exists() else []
    assert parsed == [], parsed
