"""How a package of devx presents itself: names listed once, submodules reachable as
attributes without being imported first (so ``import devx`` stays fast), and public
objects shown under the name people use (``devx.Portal``, not
``devx.runtime.portal.Portal``), as trio does for its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any


def lazy_getattr(
    package: str, exports: Mapping[str, str], *, present: str | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a name to the
    submodule (relative, ``.repl``) that defines it, shown as ``present.<name>`` once
    loaded; any other name that is a submodule of the package on disk is imported on
    first use. No second list of submodules to keep in step: the package's files are
    the list."""

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is not None:
            obj = getattr(import_module(where, package), name)
            present_as(present or package, [obj])
            return obj
        if not name.startswith("_"):
            # (imported straight away: `from .core import hooks`, the fromlist form
            # every package of devx uses, comes here first; a find_spec before the
            # import cost it a second search of the package's directory)
            try:
                return import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise  # (one of its own imports is missing: that is the error)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def present_as(module: str, objects: Iterable[Any]) -> None:
    """Show each of ``objects`` (classes, functions) as ``module.<name>`` in reprs,
    tracebacks, docs and type checkers' messages."""
    for obj in objects:
        if getattr(obj, "__module__", "").startswith("devx."):
            obj.__module__ = module
