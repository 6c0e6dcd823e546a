"""The settings module: every DEVX_* variable declared once, parsed one way per type,
refused at the root's open with one line naming the variable and the value, resolved
once per tree and handed to children (never re-read from their environment)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

import devx
import settings_fns
from conftest import scaled
from devx.core import settings

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVX_", "OTEL_"))}
    env["DEVX_TELEMETRY_FILE"] = "off"
    env.update(extra)
    return env


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=scaled(20),
    )


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("DEVX_CANCEL_GRACE", "3s", "a finite number of seconds > 0"),
        ("DEVX_CANCEL_GRACE", "-1", "> 0"),
        ("DEVX_CANCEL_GRACE", "nan", "> 0"),
        ("DEVX_STREAM_WINDOW", "0", ">= 1"),
        ("DEVX_STREAM_WINDOW", "2.5", "a whole number"),
        ("DEVX_PDB", "maybe", "1/true/yes/on or 0/false/no/off"),
        ("DEVX_SPAWN_METHOD", "fork", "subprocess, forkserver"),
        ("DEVX_LOG_LEVEL", "loud", "debug, info"),
    ],
)
def test_a_bad_value_is_named_with_its_variable(var: str, value: str, says: str) -> None:
    with pytest.raises(settings.SettingsError) as err:
        settings.resolve({var: value})
    msg = str(err.value)
    assert msg.startswith(f"{var}={value!r}: expected ") and says in msg
    assert "\n" not in msg


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(settings.SettingsError) as err:
        settings.resolve({"DEVX_CANCEL_GRACE": "-1", "DEVX_BOOT_TIMEOUT": "soon"})
    assert "DEVX_CANCEL_GRACE='-1'" in str(err.value)
    assert "DEVX_BOOT_TIMEOUT='soon'" in str(err.value)


@pytest.mark.parametrize("raw", ["1", "true", "YES", " on "])
def test_flags_read_one_way_true(raw: str) -> None:
    assert settings.resolve({"DEVX_PDB": raw}).pdb is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_flags_read_one_way_false(raw: str) -> None:
    assert settings.resolve({"DEVX_PDB": raw, "DEVX_STACK_DUMP_TERMINAL": raw}).pdb is False
    expected = raw == ""  # unset/empty keeps the default (on)
    assert settings.resolve({"DEVX_STACK_DUMP_TERMINAL": raw}).stack_dump_terminal is expected


def test_import_never_reads_a_setting() -> None:
    """A bad value costs nothing until a tree opens: ``import devx`` (and its
    runtime, debug and telemetry layers) reads no setting."""
    proc = _python(
        "import devx, devx.debug, devx.telemetry, devx.runtime.context, devx.cli",
        DEVX_CANCEL_GRACE="3s",
        DEVX_STREAM_WINDOW="0",
    )
    assert proc.returncode == 0, proc.stderr


def test_the_root_refuses_a_bad_value_in_one_line() -> None:
    proc = _python(
        """
        import trio, devx

        async def main():
            async with devx.open_root_actor():
                print("opened")

        trio.run(main)
        """,
        DEVX_CANCEL_GRACE="3s",
    )
    assert proc.returncode == 1
    assert "opened" not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        "devx.core.settings.SettingsError: DEVX_CANCEL_GRACE='3s': expected a finite number "
        "of seconds > 0 (e.g. 3 or 0.5)"
    )


def test_children_get_the_roots_values_not_their_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The root resolved DEVX_STREAM_WINDOW=5 when it opened; changing the variable
    afterwards (children inherit the changed environment) splits nothing."""
    monkeypatch.setenv("DEVX_STREAM_WINDOW", "5")

    async def main() -> list[dict[str, object]]:
        async with devx.open_nursery() as an:
            os.environ["DEVX_STREAM_WINDOW"] = "9"
            first = await an.start_actor("first", enable_modules=["settings_fns"])
            seen = [await first.run(settings_fns.seen)]
            # a grandchild gets them from its parent in turn
            seen.append(await first.run(settings_fns.grandchild_seen))
            await first.cancel_actor()
            return seen

    child, grandchild = trio.run(main)
    for seen in (child, grandchild):
        assert seen["env_stream_window"] == "9"  # the environment the child inherited
        assert seen["stream_window"] == 5  # but the tree's value


def test_a_settings_struct_travels_whole() -> None:
    """Every field survives the spawn message's encoding (types kept)."""
    import msgspec

    from devx.runtime.msgs import SpawnSpec

    s = settings.resolve({"DEVX_TELEMETRY_SDK": "0", "DEVX_CANCEL_GRACE": "0.5"})
    spec = msgspec.msgpack.decode(msgspec.msgpack.encode(_spec(s)), type=SpawnSpec)
    assert spec.settings == s and spec.settings.telemetry_sdk is False


def _spec(s: settings.Settings) -> object:
    from devx.runtime.msgs import ActorID, RuntimeConfig, SpawnSpec

    uid = ActorID("root", "0" * 32)
    return SpawnSpec(
        name="c", uuid="1" * 32, parent_uid=uid, root_uid=uid, parent_path="root",
        parent_addr=("127.0.0.1", 1), root_addr=("127.0.0.1", 1), secret="s",
        enable_modules=[], config=RuntimeConfig(), settings=s,
    )  # fmt: skip


def test_every_field_is_declared_once() -> None:
    fields = list(settings.Settings.__struct_fields__)
    declared = [s.field for s in settings.DECLARED]
    assert sorted(declared) == sorted(fields)
    envs = [s.env for s in settings.DECLARED]
    assert len(set(envs)) == len(envs)


def test_no_devx_variable_is_read_outside_the_settings_module() -> None:
    """Every DEVX_* name in the package's code is a declared setting (or the per-child
    marker devx sets itself): a variable two modules must agree on lives in one place."""
    declared = {s.env for s in settings.DECLARED} | {"DEVX_ACTOR"}
    found: dict[str, set[str]] = {}
    for path in (SRC / "devx").rglob("*.py"):
        for name in re.findall(r"\bDEVX_[A-Z][A-Z_]*[A-Z]\b", path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(SRC)))
    unknown = {k: v for k, v in found.items() if k not in declared}
    assert not unknown, f"DEVX_* names not declared in devx/core/settings.py: {unknown}"
    reads = [
        str(p.relative_to(SRC))
        for p in (SRC / "devx").rglob("*.py")
        if p.name != "settings.py" and re.search(r"environ\.get\(\s*['\"]DEVX_", p.read_text())
    ]
    assert not reads, f"modules that read DEVX_* from the environment themselves: {reads}"


def test_the_readme_table_is_the_declared_one() -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- settings-table -->\n(.*?)<!-- /settings-table -->", readme, re.S)
    assert m, "README.md has no settings table between <!-- settings-table --> markers"
    assert m.group(1) == settings.markdown_table(), (
        "README's settings table is stale: regenerate it with `devx settings`"
    )


def test_the_cli_prints_the_table_and_checks_an_environment() -> None:
    table = subprocess.run(
        [sys.executable, "-m", "devx", "settings"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert table.returncode == 0 and table.stdout == settings.markdown_table()
    assert table.stderr == ""  # no runpy warning, nothing else
    bad = subprocess.run(
        [sys.executable, "-m", "devx", "settings", "--check"],
        env=_clean_env(DEVX_STREAM_WINDOW="0", DEVX_PDB="1"),
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith(
        "DEVX_STREAM_WINDOW='0': expected a whole number >= 1 (e.g. 64)"
    )
    good = subprocess.run(
        [sys.executable, "-m", "devx", "settings", "--check"],
        env=_clean_env(DEVX_PDB="1"),
        capture_output=True,
        text=True,
        timeout=scaled(20),
    )
    assert good.returncode == 0 and "DEVX_PDB=True" in good.stdout, good.stdout


def test_the_cli_piped_into_a_reader_that_left_ends_without_a_traceback(tmp_path: Path) -> None:
    """`devx ps | head -3` (any command: they share main()): the reader left before
    devx wrote everything, and devx ended with a BrokenPipeError traceback."""
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        res = subprocess.run(
            [sys.executable, "-m", "devx", "settings"],
            env=_clean_env(DEVX_RUNTIME_DIR=str(rt)),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=scaled(20),
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.returncode == 141  # not 1 (`devx dump`: nothing matched)
