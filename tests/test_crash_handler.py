"""open_crash_handler / maybe_open_crash_handler: sync crash handlers for CLIs, on a
real PTY (examples/sync/crash_main.py, the click and typer examples) and in process
(raise_on_exit, ignore, repl_fixture, the tree's lock inside an actor); telemetry
read back from the embedded file."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import pytest

import devx
from _pty import EXAMPLES, repl_fixture
from conftest import run_script, scaled
from devx.core import schema
from devx.debug import maybe_open_crash_handler, open_crash_handler
from devx.telemetry import readback

pytestmark = pytest.mark.timeout(60)

CRASH = r">>> devx CRASH in process pid \d+ \(no actor runtime\)"


repl = repl_fixture(EXAMPLES)


def run_plain(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_script(EXAMPLES / script, *args, **env)


# --- on a PTY ----------------------------------------------------------------------


def test_repl_at_the_raising_frame_then_the_error_exits(repl):
    r = repl("sync/crash_main.py")
    r.expect(CRASH + ": ValueError: invalid literal for int")
    out = r.prompt()
    assert "crash_main.py(17)load_port()" in out and '-> return int(config["port"])' in out
    assert "'eighty'" in r.cmd("p config")
    where = r.cmd("w")
    assert "main()" in where and "crash_handler" not in where
    r.child.sendline("c")
    r.expect("ValueError: invalid literal")
    assert r.finish() != 0
    assert "main went on" not in r.log.getvalue()


@pytest.mark.parametrize("mode", ["swallow", "only-keyerror"])
def test_raise_on_exit_false_or_other_types_swallows(repl, mode):
    r = repl("sync/crash_main.py", mode)
    r.expect(CRASH + ": ValueError")
    r.prompt()
    r.child.sendline("c")
    r.expect_exact("main went on after ValueError")
    assert r.finish() == 0


def test_repl_fixture_around_the_repl(repl):
    r = repl("sync/crash_main.py", "fixture")
    r.expect_exact("fixture entered")
    r.expect(CRASH)
    r.prompt()
    assert "fixture exited" not in r.log.getvalue()
    r.child.sendline("c")
    r.expect_exact("fixture exited")
    assert r.finish() != 0


def test_a_peer_style_repl_fixture_gets_the_repl_and_the_box(repl):
    """The peer project calls a factory fixture as ``fixture(repl=, maybe_bxerr=)``
    (its test_crash_handler_cms): the REPL it gets is the one that runs (the prompt
    it set shows), the box holds the error. Before: TypeError, missing 'repl'."""
    r = repl("sync/crash_main.py", "peer-fixture")
    r.expect_exact("fixture got a PdbREPL for ValueError(")
    r.expect(CRASH)
    r.expect_exact("(Pdb+ fixture) ")
    r.child.sendline("c")
    r.expect_exact("fixture exited")
    r.expect("ValueError: invalid literal")
    assert r.finish() != 0


def test_quit_leaves_the_repl_and_raises(repl):
    r = repl("sync/crash_main.py")
    r.expect(CRASH)
    r.prompt()
    r.child.sendline("q")
    r.expect("ValueError: invalid literal")
    assert r.finish() != 0


def test_click_app_with_pdb(repl):
    r = repl("cli/click_app.py", "--pdb", "3/0")
    r.expect(CRASH + ": ZeroDivisionError: division by zero")
    out = r.prompt()
    assert "click_app.py(18)parse_ratio()" in out and "-> return num / den" in out
    assert r.cmd("p num, den").strip().endswith("(3, 0)")
    r.child.sendline("c")
    r.expect("ZeroDivisionError: division by zero")
    assert r.finish() != 0


def test_typer_app_with_pdb(repl):
    r = repl("cli/typer_app.py", "--pdb", "3/0")
    r.expect(CRASH + ": ZeroDivisionError: division by zero")
    assert "typer_app.py(21)parse_ratio()" in r.prompt()
    r.child.sendline("c")
    r.expect("ZeroDivisionError: division by zero")
    assert r.finish() != 0


def test_crash_and_repl_recorded_without_a_runtime(repl, tmp_path):
    """A sync CLI's crash is telemetry too: the process stands in for a tree."""
    path = tmp_path / "cli.otlp.jsonl"
    r = repl("sync/crash_main.py", DEVX_TELEMETRY_FILE=str(path))
    r.expect(CRASH)
    r.prompt()
    r.child.sendline("c")
    r.expect_exact(f"devx: telemetry written to {path}")
    assert r.finish() != 0

    spans = readback.load_spans(path)
    logs = readback.load_logs(path)
    assert len({s["trace_id"] for s in spans} | {rec["trace_id"] for rec in logs}) == 1
    by_name = {s["name"]: s for s in spans}
    repl_span, actor = by_name["devx.repl"], by_name["devx.actor"]
    attrs = repl_span["attributes"]
    assert attrs[schema.REASON] == "crash" and attrs[schema.CODE_FUNCTION_NAME] == "load_port"
    assert attrs[schema.CODE_LINE_NUMBER] == 17
    assert attrs[schema.CODE_FILE_PATH].endswith("crash_main.py")
    assert attrs["devx.actor.path"] == "crash_main" and attrs["process.pid"] == r.child.pid
    assert repl_span["parent_span_id"] == actor["span_id"]
    assert actor["attributes"]["devx.actor.outcome"] == "crashed"
    [exc_event] = [e for e in actor["events"] if e["name"] == "exception"]
    assert exc_event["attributes"]["exception.type"] == "ValueError"
    assert "load_port" in exc_event["attributes"]["exception.stacktrace"]
    crash_logs = [rec for rec in logs if rec.get("event_name") == "devx.crash"]
    assert len(crash_logs) == 1
    assert crash_logs[0]["attributes"]["devx.actor.path"] == "crash_main"


# --- no PTY: what must not open a REPL ------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"DEVX_PDB": "0"}])
def test_click_app_without_pdb_is_a_plain_traceback(env):
    out = run_plain("cli/click_app.py", "3/0", **env)
    assert out.returncode == 1
    assert "ZeroDivisionError: division by zero" in out.stderr
    assert ">>> devx" not in out.stdout + out.stderr


def test_click_app_pdb_from_the_environment():
    out = run_plain("cli/click_app.py", "3/0", DEVX_PDB="1")
    assert out.returncode == 1
    assert ">>> devx CRASH" in out.stdout and "stdin is not a terminal: no REPL" in out.stdout
    ok = run_plain("cli/click_app.py", "3/4", DEVX_PDB="1")
    assert ok.returncode == 0 and "ratio = 0.75" in ok.stdout


@pytest.mark.parametrize("var", ["DEVX_CANCEL_GRACE", "DEVX_ATTACH"])
def test_a_bad_setting_is_refused_at_the_handlers_entry(var):
    """A malformed DEVX_* variable is refused where the handler opens, before the
    block runs, with the line naming it: not at the crash, chained to the user's
    error by the REPL's own checks (telemetry silently off, twice said)."""
    out = run_plain("sync/crash_main.py", **{var: "3s"})
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"devx.core.settings.SettingsError: {var}='3s': expected"), out.stderr
    assert "During handling" not in out.stderr and "disabled for this crash" not in out.stderr
    assert ">>> devx" not in out.stdout and "port" not in out.stdout


def test_ignored_types_pass_through_untouched():
    out = run_plain("sync/crash_main.py", "ignore")
    assert out.returncode == 1
    assert "ValueError: invalid literal" in out.stderr
    assert ">>> devx" not in out.stdout and "main went on" not in out.stdout


def test_fixture_can_skip_the_repl():
    out = run_plain("sync/crash_main.py", "fixture-skip")
    assert out.returncode == 1
    assert "fixture entered" in out.stdout and "fixture exited" in out.stdout
    assert ">>> devx" not in out.stdout


# --- in process ------------------------------------------------------------------------


class Boom(Exception):
    pass


def boom() -> None:
    raise Boom("bang")


def test_reraises_the_same_exception(capsys):
    with pytest.raises(Boom) as info, open_crash_handler() as box:
        boom()
    assert box.value is info.value
    assert info.traceback[-1].name == "boom"  # the original traceback, not a re-raise
    out = capsys.readouterr().out
    assert "Boom: bang" in out and "stdin is not a terminal: no REPL" in out


def test_raise_on_exit_variants(capsys):
    with open_crash_handler(raise_on_exit=False) as box:
        boom()
    assert isinstance(box.value, Boom)
    with open_crash_handler(raise_on_exit=[KeyError]):
        boom()
    with pytest.raises(Boom), open_crash_handler(raise_on_exit=(Exception,)):
        boom()
    with open_crash_handler() as box:
        pass
    assert box.value is None


def test_what_passes_through_untouched(capsys):
    for exc in (
        KeyboardInterrupt(),
        SystemExit(0),
        BaseExceptionGroup("ki", [KeyboardInterrupt()]),
    ):
        with pytest.raises(type(exc)), open_crash_handler():
            raise exc
    with pytest.raises(Boom), open_crash_handler(ignore={Boom}, raise_on_exit=False):
        boom()
    with pytest.raises(Boom), open_crash_handler(catch={KeyError}, raise_on_exit=False):
        boom()
    assert ">>> devx" not in capsys.readouterr().out
    with pytest.raises(SystemExit), open_crash_handler():
        sys.exit(2)  # a failing exit is worth a look
    assert ">>> devx CRASH" in capsys.readouterr().out


def test_maybe_open_crash_handler(monkeypatch, capsys):
    monkeypatch.delenv("DEVX_PDB", raising=False)
    with pytest.raises(Boom), maybe_open_crash_handler():
        boom()
    assert ">>> devx" not in capsys.readouterr().out
    monkeypatch.setenv("DEVX_PDB", "1")
    with maybe_open_crash_handler(raise_on_exit=False) as box:
        boom()
    assert isinstance(box.value, Boom)
    assert ">>> devx CRASH" in capsys.readouterr().out
    # argparse's store_true gives False when --pdb is not passed: DEVX_PDB still decides
    with maybe_open_crash_handler(pdb=False, raise_on_exit=False) as box:
        boom()
    assert isinstance(box.value, Boom)
    assert ">>> devx CRASH" in capsys.readouterr().out
    monkeypatch.setenv("DEVX_PDB", "0")
    with pytest.raises(Boom), maybe_open_crash_handler(pdb=False):
        boom()
    assert ">>> devx" not in capsys.readouterr().out


def test_repl_fixture_factory_and_skip(capsys):
    log = []

    @contextmanager
    def fixture(go):
        log.append("in")
        yield go
        log.append("out")

    with open_crash_handler(repl_fixture=lambda: fixture(True), raise_on_exit=False):
        boom()
    with open_crash_handler(repl_fixture=fixture(False), raise_on_exit=False):
        boom()
    assert log == ["in", "out", "in", "out"]
    assert capsys.readouterr().out.count(">>> devx CRASH") == 1  # the second was skipped


@pytest.mark.parametrize("raise_on_exit", [True, [Boom], False])
def test_repl_fixture_called_with_the_peers_keywords(capsys, raise_on_exit):
    """The peer's fixture signature ``(repl, maybe_bxerr=None, ...)``, one that takes
    only some of them, and one taking ``**kw``: each gets what it names; yielding
    False skips the REPL; raise_on_exit decides as without a fixture."""
    seen: list[tuple[str, object, object]] = []

    @contextmanager
    def peer(repl, maybe_bxerr=None, enter_repl=True):
        seen.append(("peer", repl, maybe_bxerr))
        yield False

    @contextmanager
    def box_only(maybe_bxerr):
        seen.append(("box_only", None, maybe_bxerr))
        yield False

    @contextmanager
    def any_kw(**kw):
        seen.append(("any_kw", kw.get("repl"), kw.get("maybe_bxerr")))
        yield False

    for fixture in (peer, box_only, any_kw):
        try:
            with open_crash_handler(raise_on_exit=raise_on_exit, repl_fixture=fixture) as box:
                boom()
        except Boom as err:
            assert raise_on_exit is not False and err is box.value
        else:
            assert raise_on_exit is False
        assert isinstance(box.value, Boom) and box.raise_on_exit == raise_on_exit
        assert isinstance(box, devx.debug.BoxedMaybeException)  # the peer's public name
        assert seen[-1][0] == fixture.__name__ and seen[-1][2] is box
    assert isinstance(seen[0][1], devx.debug.PdbREPL) and seen[1][1] is None
    assert isinstance(seen[2][1], devx.debug.PdbREPL)
    assert ">>> devx" not in capsys.readouterr().out  # every fixture skipped the REPL


CRASH_IN_ACTOR_THREADS = """
import threading, trio, devx
from devx.debug import lock as tty_lock, open_crash_handler

class Boom(Exception):
    pass

def crash_in_thread():
    with open_crash_handler(raise_on_exit=False):
        raise Boom("bang")

async def main():
    async with devx.open_root_actor(debug_mode=True):
        lock = tty_lock.root_lock()
        t = threading.Thread(target=crash_in_thread, name="crasher")
        t.start()
        await trio.to_thread.run_sync(t.join)
        await trio.to_thread.run_sync(crash_in_thread)
        # the release is handed to the loop: wait for the lock to be free
        with trio.fail_after(TIMEOUT):
            while lock.holder is not None:
                await trio.sleep(0.01)
        print("grants:", lock.grants)

trio.run(main)
"""


def test_inside_an_actor_thread_it_takes_the_tree_lock():
    """From a bare thread and a to_thread worker of a debug-mode root: the crash
    REPL holds the tree's TTY lock, like any other REPL of the tree. (The tree runs in
    a process of its own with no terminal: in a test's own root a REPL gets the
    terminal pytest was started from, pytest's capture suspended as for its pdb.)"""
    out = run_script("-c", CRASH_IN_ACTOR_THREADS.replace("TIMEOUT", str(scaled(5))))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "grants: 2" in out.stdout, out.stdout
    assert ">>> devx CRASH in actor 'root' (path root, pid" in out.stdout
    assert "thread 'crasher': Boom: bang" in out.stdout
    assert out.stdout.count("stdin is not a terminal: no REPL") == 2, out.stdout
