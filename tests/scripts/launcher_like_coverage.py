"""Run a script as ``__main__`` the way ``coverage run script.py`` does: a launcher
that imported multiprocessing first (which aliases ``__mp_main__`` to the launcher's
own main module, for good) before it ran the user's script.

    python launcher_like_coverage.py SCRIPT [ARGS...]
"""

import multiprocessing  # noqa: F401  (what coverage imports, and its effect)
import runpy
import sys

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
