"""devx is imported as plain Python under pytest, never assertion-rewritten.

pytest marks for rewriting every top-level package of a distribution that carries a
``pytest11`` plugin, so this plugin makes all of ``devx`` rewritable: each devx module
a test imports is parsed with :mod:`ast` and recompiled. devx imports some modules
lazily from its own threads (the telemetry sink is loaded on ``devx-telemetry-load``),
and CPython 3.11's AST conversion keeps its recursion depth in interpreter-wide
state: a devx thread parsing a module while the test's thread parses another fails
one of them with ``SystemError: AST constructor recursion depth mismatch``, at random,
in the user's suite. devx's code holds no test assertions, so rewriting it buys
nothing; skipping it closes the race for every devx thread and every lazy import,
present and future, where a list of modules to import first would have to follow
each of them (and would cost every pytest run their import time).

How: a finder placed before pytest's rewrite hook in ``sys.meta_path`` answers for
``devx`` and ``devx.*`` with the spec the other finders give (the import system's
own answer without pytest). It answers for nothing else; the plugin's own
package (``devx_pytest``) stays rewritten.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_PACKAGE = "devx"


def _is_rewriter(finder: object) -> bool:
    """pytest's AssertionRewritingHook (one per pytest run in this process)."""
    return type(finder).__name__ == "AssertionRewritingHook" and type(finder).__module__.startswith(
        "_pytest."
    )


class PlainDevx:
    """Finds ``devx`` modules as if pytest's rewrite hook were not installed (a
    meta path finder; not an importlib.abc subclass, which would import
    importlib.resources into every pytest run)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname != _PACKAGE and not fullname.startswith(_PACKAGE + "."):
            return None
        for finder in list(sys.meta_path):
            if finder is self or _is_rewriter(finder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None


def install() -> None:
    """Put the finder first in ``sys.meta_path`` (once per process): pytest has
    installed its rewrite hook by the time it imports its plugins."""
    if not any(isinstance(f, PlainDevx) for f in sys.meta_path):
        sys.meta_path.insert(0, PlainDevx())
