"""The public face, as trio's exports test checks its own: every listed name is there
and shows as ``devx.X``; every submodule is reachable as an attribute of its package
(no hand-kept list to drift); the package ships its types, and a user's type checker
sees the real signatures (a typo'd option is an error, not ``Any``)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

import devx
import devx.debug
from conftest import scaled

pytestmark = pytest.mark.timeout(120)


def _public(module: object) -> list[tuple[str, object]]:
    return [(name, getattr(module, name)) for name in module.__all__]  # type: ignore[attr-defined]


def test_every_top_level_name_is_there_and_shows_as_devx() -> None:
    for name, obj in _public(devx):
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "devx", f"devx.{name} shows as {obj.__module__}.{name}"


def test_every_debug_name_is_there_and_shows_where_it_is_used() -> None:
    for name, obj in _public(devx.debug):
        assert obj.__module__ in ("devx", "devx.debug"), (name, obj.__module__)


def _packages() -> list[str]:
    out = ["devx"]
    for info in pkgutil.walk_packages(devx.__path__, "devx."):
        if info.ispkg:
            out.append(info.name)
    return out


@pytest.mark.parametrize("package", _packages())
def test_every_submodule_is_an_attribute_of_its_package(package: str) -> None:
    """In a fresh interpreter (nothing imported first), ``pkg.sub`` works for every
    public ``sub`` on disk."""
    pkg = importlib.import_module(package)
    names = [
        info.name
        for info in pkgutil.iter_modules(pkg.__path__)
        if not info.name.startswith("_")  # private: reached by import, never by attribute
    ]
    code = f"import {package}\n" + "".join(f"{package}.{n}\n" for n in names)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(30)
    )
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = devx.nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = devx.debug.nope  # type: ignore[attr-defined]


def test_a_typo_in_an_option_is_refused_inside_a_tree_too() -> None:
    async def main() -> None:
        async with devx.open_nursery():
            async with devx.open_nursery(debug_mod=True):  # type: ignore[call-arg]
                pass

    with pytest.raises(TypeError, match="debug_mod"):
        trio.run(main)


def test_the_package_ships_its_types() -> None:
    assert (Path(devx.__file__).parent / "py.typed").is_file()


def test_a_users_type_checker_sees_the_api(tmp_path: Path) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        textwrap.dedent(
            """
            import devx

            reveal_type(devx.pause)
            reveal_type(devx.Portal.run)

            async def main() -> None:
                async with devx.open_nursery(debug_mod=True) as an:
                    await an.start_actor("x")
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the project's config
        timeout=scaled(60),
    )
    out = proc.stdout
    assert 'Revealed type is "def (*, hide_tb: bool' in out, out
    assert 'Revealed type is "def (self: devx.runtime.portal.Portal' in out, out
    assert 'Unexpected keyword argument "debug_mod" for "open_nursery"' in out, out
    assert "missing library stubs or py.typed marker" not in out, out
