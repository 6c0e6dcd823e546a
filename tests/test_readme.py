"""Every ``python`` block of the README runs as written: each is extracted from the
README text, written to a file and run as a user would (``python snippet.py``, stdin
not a terminal), and what it prints is checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import scaled

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```$", re.M | re.S)


def python_blocks() -> dict[str, str]:
    """The README's python blocks by the heading above each (``## A tree in ten lines``)."""
    text = README.read_text()
    out: dict[str, str] = {}
    for m in _BLOCK.finditer(text):
        heading = re.findall(r"^#+ (.+)$", text[: m.start()], re.M)[-1]
        assert heading not in out, f"two python blocks under {heading!r}: name them apart"
        out[heading] = textwrap.dedent(m.group(2))
    return out


# heading -> what the snippet prints on stdout (a regex), run with no terminal (a pause
# is announced and skipped, and the program goes on)
EXPECTED = {
    "A tree in ten lines": r"\A6765\n55\n\Z",
    "Debugging any actor of the tree": (
        r"\A\n>>> devx PAUSE in actor 'worker' \(path root/worker, pid \d+\): snippet.py:5"
        r" in work\(\)\n +stdin is not a terminal: no REPL, continuing\n\Z"
    ),
    "Sync code, threads, `breakpoint()` and CLIs": r"\Afine\n\Z",
    "Contexts": r"\A42 2\ndone\n\Z",
    "Discovery: finding actors by name": r"\Ahello you from root/greeter\n\Z",
    "Moving from the peer project (tractor)": (
        r"\A(?:(?:chart|alerts) \[100\.0, 101\.0, 102\.0\]\n){2}\Z"
    ),
}


def run_snippet(tmp_path: Path, name: str, code: str, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(20),
        env={**os.environ, "NO_COLOR": "1", "DEVX_TELEMETRY_FILE": "off", **env},
    )


def test_every_python_block_is_checked() -> None:
    assert sorted(python_blocks()) == sorted(EXPECTED)


@pytest.mark.parametrize("heading", sorted(EXPECTED))
def test_readme_snippet_runs_as_written(tmp_path: Path, heading: str) -> None:
    code = python_blocks()[heading]
    res = run_snippet(tmp_path, "snippet", code)
    assert res.returncode == 0, f"{heading}:\n{code}\n--- stderr:\n{res.stderr}"
    assert re.search(EXPECTED[heading], res.stdout), res.stdout


def test_script_that_reruns_trio_at_import_gets_a_hint(tmp_path: Path) -> None:
    """The ten lines without their guard: the child loading the script starts trio
    again; the error in the root says what to do, as multiprocessing's spawn does."""
    code = python_blocks()["A tree in ten lines"]
    guard = 'if __name__ == "__main__":'
    head, _, tail = code.partition(guard)
    unguarded = head + textwrap.dedent(tail.split("\n", 1)[1])
    assert "\ntrio.run(main)" in unguarded
    res = run_snippet(tmp_path, "unguarded", unguarded)
    assert res.returncode == 1
    assert "devx.RemoteActorError: RuntimeError: the child actor loaded the root's script" in (
        res.stderr
    )
    assert f"    {guard}\n        trio.run(main)" in res.stderr


def readme_devx_commands() -> list[str]:
    """Every ``devx ...`` command the README tells a reader to type: the lines of its
    shell blocks and its inline code, placeholders filled in (``PID|NAME`` -> a pid)."""
    text = README.read_text()
    cmds: set[str] = set()
    fenced = re.findall(r"^ *```[a-z]*\n(.*?)^ *```$", text, re.M | re.S)
    for block in fenced:
        for line in block.splitlines():
            line = re.sub(r"^.*?\|\s*(?=devx )", "", line.split("#", 1)[0].strip())
            if line.startswith("devx "):
                cmds.add(line)
    prose = re.sub(r"^ *```[a-z]*\n.*?^ *```$", "", text, flags=re.M | re.S)
    for inline in re.findall(r"`(devx [a-z][^`]*)`", prose):
        cmds.add(" ".join(inline.split()))
    fill = {"PID|NAME|PATTERN": "4242", "PID": "4242", "HOST:PORT": "127.0.0.1:7000"}
    out = []
    for cmd in sorted(cmds):
        cmd = re.sub(r"\[([^]]*)\]", r"\1", cmd)  # `[--trace ID]`: written out
        cmd = cmd.split(" > ")[0]  # `devx attach > session.txt`: the redirection is the shell's
        out.append(" ".join(fill.get(word, word) for word in cmd.split()))
    return out


def test_every_devx_command_of_the_readme_parses() -> None:
    """A command the README quotes with an option the CLI no longer has (renamed,
    dropped) fails here, not in a reader's shell."""
    from devx import cli

    cmds = readme_devx_commands()
    assert {c.split()[1] for c in cmds} >= {"attach", "dump", "ps", "timeline", "settings"}
    parser = cli.build_parser()
    (commands,) = [a.choices for a in parser._actions if isinstance(a.choices, dict)]
    for cmd in cmds:
        words = cmd.split()[1:]
        if words[:1] == ["keeps"]:  # prose ("devx keeps the public names ...")
            continue
        if len(words) == 1:  # a mention (`devx registrar` opens ...): the command exists
            assert words[0] in commands, cmd
            continue
        try:
            args = parser.parse_args(words)
        except SystemExit:
            try:  # a mention without its target (`devx dump --brief` from another shell)
                args = parser.parse_args([*words, "4242"])
            except SystemExit as exc:
                raise AssertionError(f"README's `{cmd}` is refused by devx's parser") from exc
        assert getattr(args, "func", None) is not None, cmd


def test_the_readmes_pytest_options_are_the_plugins(tmp_path: Path) -> None:
    """`pytest --devx-hang-timeout=60` and `--devx-dump-dir=DIR` as the README writes
    them: pytest takes them (5: nothing collected; 4 would be a usage error)."""
    text = README.read_text()
    opts = sorted(set(re.findall(r"pytest (--devx-[a-z-]+=[\w.]+)", text)))
    assert len(opts) >= 2, opts
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *opts],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert res.returncode == 5, res.stdout + res.stderr


def test_devx_help_names_every_command() -> None:
    """`devx --help`'s summary named four of its six commands (attach and registrar,
    added later, were only in the list under it)."""
    from devx import cli

    parser = cli.build_parser()
    (commands,) = [a.choices for a in parser._actions if isinstance(a.choices, dict)]
    summary = " ".join((parser.description or "").split())
    assert [c for c in commands if f"({c})" not in summary] == []
