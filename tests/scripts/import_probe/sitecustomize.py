"""Put on PYTHONPATH by tests/test_lazy_imports.py: every process of the tree (root,
fork server, children) appends ``PID MODULE`` to ``$DEVX_TEST_IMPORT_LOG`` when *it*
imports one of the watched modules, so a test can tell which process paid an import
(a forked child inherits its zygote's modules without importing them)."""

import os
import sys

WATCHED = ("stackscope", "greenback", "devx.debug.session")


class _Probe:
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name in WATCHED and name not in sys.modules:
            log = os.environ.get("DEVX_TEST_IMPORT_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(f"{os.getpid()} {name}\n")
        return None  # the real finders import it


sys.meta_path.insert(0, _Probe())
