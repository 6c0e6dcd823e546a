"""The other debuggers and shells people reach for go through the one door in a
debug-mode tree, on a real pseudo-terminal (examples/debugging/door_tools.py):
IPython's debugger (ipdb) and pudb open devx's REPL, their banner saying so; IPython's
``embed()`` runs its own shell under the tree's TTY lock; ``pytest.set_trace()`` in a
test's tree gives pytest its output capture back after ``c``.

ipdb, IPython and pudb are not in the dev extra (IPython alone brings a dozen
packages): their tests skip when the tool is not installed (``pip install ipdb
pudb`` to run them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from _pty import PROMPT, Repl, banner, repl_fixture, stops_at_banner_line
from conftest import clean_env, scaled, wait_until

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "debugging"

repl = repl_fixture(EXAMPLES)

SANE = "terminal: echo=True icanon=True"
ANY_BANNER = r">>> devx ([A-Z_]+) in actor '([^']+)'"
IPDB_NOTE = "(IPython's debugger: devx's REPL opens here"
PUDB_NOTE = "(pudb's full-screen UI cannot share the tree's terminal: devx's REPL opens here"
STREAMED = "streamed [0, 1, 4, 9]"


def tools_home(tmp_path: Path) -> dict[str, str]:
    """Where IPython and pudb keep their settings (a profile, pudb's saved
    breakpoints): the test's own, empty, never the developer's."""
    return {"IPYTHONDIR": str(tmp_path / "ipython"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


def _other_waits(r: Repl, other: str) -> None:
    shown: list[str] = []
    wait_until(
        lambda: shown.append(r.cmd("waiters")) or f"root/{other}: sync_pause at " in shown[-1],
        scaled(20),
        f"{other}'s stop waiting for the terminal",
    )


def test_ipdb_set_trace_in_two_children_opens_devx_repl_one_at_a_time(repl, tmp_path):
    """``ipdb.set_trace()`` in two children serving context streams: devx's REPL,
    one at a time, the banner saying it stands for IPython's debugger."""
    pytest.importorskip("ipdb")
    r = repl("door_tools.py", "ipdb", "two", **tools_home(tmp_path))
    first = r.expect(r">>> devx SYNC_PAUSE in actor '(?P<name>one|two)' \(path root/(?P=name),")
    name = first.group("name")
    other = "two" if name == "one" else "one"
    out = r.prompt()
    assert IPDB_NOTE in " ".join(out.split()), out
    assert not re.search(ANY_BANNER, out), f"a second REPL under {name}'s:\n{r.log.getvalue()}"
    stops_at_banner_line(r.child.after + out, "ipdb.set_trace()")
    assert "41" in r.cmd("p x")
    _other_waits(r, other)
    r.assert_quiet()
    r.child.sendline("n")
    assert "-> y = x + 1" in r.prompt()
    r.child.sendline("c")
    r.expect(banner("SYNC_PAUSE", other, f"root/{other}"))
    r.prompt()
    r.child.sendline("c")
    r.expect_exact(f"one: ipdb done (42), {STREAMED}")
    r.expect_exact(f"two: ipdb done (42), {STREAMED}")
    r.expect_exact(SANE)
    assert r.finish() == 0


@pytest.mark.parametrize("tool", ["ipdb", "pudb"])
def test_a_tools_post_mortem_opens_devx_post_mortem(repl, tool, tmp_path):
    pytest.importorskip(tool)
    r = repl("door_tools.py", f"{tool}_post_mortem", "child", **tools_home(tmp_path))
    r.expect(banner("CRASH", "one", "root/one") + ": ZeroDivisionError: division by zero")
    out = r.prompt()
    assert (IPDB_NOTE if tool == "ipdb" else PUDB_NOTE) in " ".join(out.split()), out
    assert "-> _ = 1 / 0" in out, out
    where = r.cmd("w")
    assert "crash()" in where and "way_in()" in where and "trio" not in where, where
    r.child.sendline("c")
    r.expect_exact(f"one: {tool}_post_mortem done (42), {STREAMED}")
    r.expect_exact(SANE)
    assert r.finish() == 0


@pytest.mark.parametrize(
    "way, where, env",
    [
        ("pudb", "two", {}),
        ("breakpoint", "root", {"PYTHONBREAKPOINT": "pudb.set_trace"}),
    ],
    ids=["set_trace-two", "PYTHONBREAKPOINT-root"],
)
def test_pudb_opens_devx_repl_saying_why(repl, way, where, env, tmp_path):
    """pudb's full-screen UI would own the terminal the tree's other actors share:
    devx's REPL opens instead, its banner saying why (and nothing of pudb's, not its
    warning that it cannot take SIGINT over, reaches the terminal)."""
    pytest.importorskip("pudb")
    r = repl("door_tools.py", way, where, **env, **tools_home(tmp_path))
    m = r.expect(r">>> devx SYNC_PAUSE in actor '(?P<name>\w+)' \(path (?P<path>[\w/]+),")
    out = r.prompt()
    assert PUDB_NOTE in " ".join(out.split()), out
    source = "breakpoint()" if way == "breakpoint" else "pudb.set_trace()"
    stops_at_banner_line(r.child.after + out, source)
    if where == "two":
        name = m.group("name")
        other = "two" if name == "one" else "one"
        _other_waits(r, other)
        r.assert_quiet()
        r.child.sendline("c")
        r.expect(banner("SYNC_PAUSE", other, f"root/{other}"))
        r.prompt()
    r.child.sendline("c")
    if where == "root":
        r.expect_exact(f"root: {way} done (42)")
    else:
        r.expect_exact(f"one: {way} done (42), {STREAMED}")
        r.expect_exact(f"two: {way} done (42), {STREAMED}")
    r.expect_exact(SANE)
    assert r.finish() == 0
    log = r.log.getvalue()
    assert "Warning" not in log and "PuDB" not in log, log


def test_ipython_embed_in_two_children_one_shell_at_a_time(repl, tmp_path):
    """``IPython.embed()`` reads the terminal as a REPL does: in two children at
    once, one shell after the other, each under the tree's TTY lock with a banner
    (two IPython prompts on one terminal before, both reading it)."""
    pytest.importorskip("IPython")
    r = repl("door_tools.py", "embed", "two", **tools_home(tmp_path))
    first = r.expect(r">>> devx SYNC_PAUSE in actor '(?P<name>one|two)' \(path root/(?P=name),")
    name = first.group("name")
    other = "two" if name == "one" else "one"
    r.expect(r"In \[1\]:")  # (prompt_toolkit's, drawn with escapes around it)
    out = r.child.before
    assert "(IPython's shell: the tree's terminal is yours until you leave it)" in out, out
    assert not re.search(ANY_BANNER, out), out
    r.child.sendline("x + 1")
    r.expect(r"Out\[1\]: (\x1b\[[0-9;]*m)*42")
    r.expect(r"In \[2\]:")
    r.assert_quiet(r">>> devx|In \[1\]")  # the other shell waits, off the screen
    r.child.sendline("exit")
    r.expect(banner("SYNC_PAUSE", other, f"root/{other}"))
    r.expect(r"In \[1\]:")
    r.child.sendline("exit")
    r.expect_exact(f"one: embed done (42), {STREAMED}")
    r.expect_exact(f"two: embed done (42), {STREAMED}")
    r.expect_exact(SANE)
    assert r.finish() == 0


PYTEST_TREE = """
import pdb, pytest, trio, devx

async def main():
    async with devx.open_nursery(debug_mode=True) as an:
        await an.start_actor("w")
        y = 5
        {way}
        print(f"printed after c: y={{y}}")
        await an.cancel()

def test_pause():
    trio.run(main)
    print("printed at the test's end")

def test_next():
    print("printed by the next test")
"""


@pytest.mark.parametrize("way", ["pytest.set_trace()", "breakpoint()", "pdb.set_trace()"])
def test_pytest_set_trace_in_a_tests_tree_resumes_capture_after_c(tmp_path, way):
    """``pytest.set_trace()`` (and ``breakpoint()``, ``pdb.set_trace()``, pytest's
    pdb outside a tree) in a test's debug tree, pytest capturing the test's output:
    pytest suspends its capture for the REPL (devx's), and takes it back after
    ``c``, saying so, as with its own pdb. Before, after ``pytest.set_trace()`` the
    rest of the test printed straight to the terminal, and a ``breakpoint()`` was
    skipped (stdin captured: no REPL), the test passing as if it had none."""
    test_file = tmp_path / "test_tree_pause.py"
    test_file.write_text(PYTEST_TREE.format(way=way))
    r = Repl(test_file, "-p", "no:cacheprovider", "--rootdir", str(tmp_path), module="pytest")
    try:
        r.expect_exact("PDB set_trace (IO-capturing turned off)")
        r.expect(banner("SYNC_PAUSE", "root", "root"))
        r.expect_exact(PROMPT)
        assert "5" in r.cmd("p y")
        r.child.sendline("c")
        r.expect_exact("PDB continue (IO-capturing resumed)")
        r.expect(r"2 passed")
        assert r.finish() == 0
        assert "printed" not in r.log.getvalue(), r.log.getvalue()
    finally:
        r.close()


PYTEST_ROOT_REPLS = """
import pytest, trio, devx

async def pausing():
    async with devx.open_nursery(debug_mode=True) as an:
        await an.start_actor("w")
        x = 5
        await devx.pause()
        x += 1
        print(f"printed after c: x={x}")
        x += 2  # (a breakpoint set in the REPL)
        await an.cancel()

async def crashing():
    async with devx.open_nursery(debug_mode=True) as an:
        await an.start_actor("w")
        y = 7
        print(f"printed before the crash: y={y}")
        y // 0

def test_pause():
    trio.run(pausing)
    print("printed at the test's end")

def test_crash():
    with pytest.raises(ZeroDivisionError):
        trio.run(crashing)
    print("printed after the crash")

def test_next():
    print("printed by the next test")
"""


def test_pause_and_crash_repl_in_a_tests_root_get_pytests_terminal(tmp_path):
    """``await devx.pause()`` and the root's crash REPL in a test's in-process tree,
    pytest capturing its output and started from a terminal: pytest's capture is
    suspended for the REPL (its separator line), the REPL is on pytest's terminal
    (``n``, ``p``), and after ``c`` the capture is back (pytest's "PDB continue"
    line, the rest of the test's output captured), as for pytest's own pdb, and a
    breakpoint set in the REPL suspends it again when reached; the terminal's
    settings are as before. Before, both were skipped (stdin captured: no
    REPL), the skip line only in the captured output, the tests passing as if there
    were no pause."""
    test_file = tmp_path / "test_root_repls.py"
    test_file.write_text(PYTEST_ROOT_REPLS)
    # pytest on the PTY, the terminal's settings read before and after it
    around = tmp_path / "stty_around.py"
    around.write_text(
        "import subprocess, sys\n"
        "stty = lambda: subprocess.run(['stty', '-g'], capture_output=True, text=True).stdout\n"
        "before = stty()\n"
        "pytest = [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider']\n"
        f"rc = subprocess.run([*pytest, '--rootdir', {str(tmp_path)!r}, {str(test_file)!r}])\n"
        "print('STTY', 'same' if stty() == before else f'changed: {before} -> {stty()}')\n"
        "sys.exit(rc.returncode)\n"
    )
    r = Repl(around)
    try:
        r.expect_exact("PDB set_trace (IO-capturing turned off)")
        r.expect(banner("PAUSE", "root", "root"))
        r.expect_exact(PROMPT)
        assert "-> x += 1" in r.cmd("n")
        assert "5" in r.cmd("p x")
        line = PYTEST_ROOT_REPLS.splitlines().index(
            "        x += 2  # (a breakpoint set in the REPL)"
        )
        r.cmd(f"b {line + 1}")
        r.child.sendline("c")
        r.expect_exact("PDB continue (IO-capturing resumed)")
        # the breakpoint, reached with the capture back on: suspended again
        r.expect_exact("PDB set_trace (IO-capturing turned off)")
        r.expect(banner("BREAKPOINT", "root", "root"))
        r.expect_exact(PROMPT)
        assert "6" in r.cmd("p x")
        # (cleared: a breakpoint left set keeps pdb's tracer on after its tree ended,
        # and the next tree's crash REPL stopped in the stdlib, as with -s: left alone)
        assert "Deleted breakpoint" in r.cmd("cl 1")
        r.child.sendline("c")
        r.expect_exact("PDB continue (IO-capturing resumed)")
        r.expect_exact("PDB post_mortem (IO-capturing turned off)")
        r.expect(banner("CRASH", "root", "root") + ": ZeroDivisionError")
        r.expect_exact(PROMPT)
        assert "7" in r.cmd("p y")
        r.child.sendline("c")
        r.expect_exact("PDB continue (IO-capturing resumed)")
        r.expect(r"3 passed")
        r.expect_exact("STTY same")
        assert r.finish() == 0
    finally:
        r.close()
    # the rest of the tests' output was captured again (pytest shows none of it)
    assert "printed" not in r.log.getvalue(), r.log.getvalue()
    assert "stdin is not a terminal" not in r.log.getvalue(), r.log.getvalue()


def test_pause_and_crash_in_a_tests_root_without_a_terminal(tmp_path):
    """The same tests, pytest with no terminal (CI: stdin /dev/null): the REPLs are
    skipped as before, their line in the captured output, no capture suspended, the
    tests pass (no hang)."""
    test_file = tmp_path / "test_root_repls.py"
    test_file.write_text(PYTEST_ROOT_REPLS)
    args = ("-p", "no:cacheprovider", "-rP", "--rootdir", str(tmp_path), str(test_file))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env=clean_env(NO_COLOR="1"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout, out.stdout
    assert "IO-capturing" not in out.stdout, out.stdout
    # -rP: each test's captured output, the skip lines in it
    assert "stdin is not a terminal: no REPL, continuing" in out.stdout, out.stdout
    assert "stdin is not a terminal: no REPL, the error propagates" in out.stdout, out.stdout
    assert "printed after c: x=6" in out.stdout and "printed after the crash" in out.stdout


PYTEST_CRASH = """
import trio, devx

def boom():
    return 1 // 0

async def main():
    async with devx.open_nursery(debug_mode=True) as an:
        p = await an.start_actor("w", enable_modules=[__name__])
        await p.run(boom)

def test_crash():
    trio.run(main)
"""


def test_pytest_pdb_on_a_childs_error_stops_at_the_tests_call(tmp_path):
    """``pytest --pdb`` on a test whose child raised through ``portal.run``: pytest's
    post-mortem stops on the test's own ``await p.run(...)`` line, and its traceback
    ends there (before: in devx's portal.py, three frames below, at ``raise
    unbox_error(...)``). Before it, as with ``-s``, the root's crash REPL (pytest's
    capture suspended for it); the child's, with no terminal, is skipped."""
    test_file = tmp_path / "test_tree_crash.py"
    test_file.write_text(PYTEST_CRASH)
    args = ("--pdb", "-p", "no:cacheprovider", "--rootdir", str(tmp_path))
    r = Repl(test_file, *args, module="pytest")
    try:
        r.expect_exact("PDB post_mortem (IO-capturing turned off)")
        r.expect(banner("CRASH", "root", "root") + ": RemoteActorError: ZeroDivisionError")
        r.expect_exact(PROMPT)
        r.child.sendline("c")
        r.expect_exact("PDB continue (IO-capturing resumed)")
        r.expect_exact("entering PDB")
        r.expect_exact(PROMPT)
        # (pdbp's sticky listing, in colour whatever NO_COLOR says)
        shown = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", r.child.before)
        stop = re.search(r"> (\S+)\((\d+)\)", shown)
        assert stop and Path(stop.group(1)).name == test_file.name, shown
        assert "await p.run(boom)" in shown.split(stop.group(0), 1)[1], shown
        before = r.log.getvalue().partition("PDB continue")[2].partition("entering PDB")[0]
        assert "portal.py" not in before, before
        r.child.sendline("q")
        r.expect(r"1 failed")
        r.finish()
    finally:
        r.close()
