"""The public names: reachable after a plain ``import devx`` as the README writes them,
without ``import devx`` loading the heavy dependencies; public exceptions print under
their public names."""

from __future__ import annotations

import subprocess
import sys

PUBLIC = [
    "devx.debug.mk_pdb",
    "devx.debug.maybe_wait_for_debugger",
    "devx.debug.acquire_debug_lock",
    "devx.debug.maybe_open_crash_handler",
    "devx.debug.open_crash_handler",
    "devx.debug.stack.enable_stack_on_sig",
    "devx.debug.enable_stack_on_sig",
    "devx.debug.GreenbackNotEnabled",
    "devx.telemetry.readback.load_spans",
    "devx.GreenbackNotEnabled",
    "devx.pause_from_sync",
    "devx.post_mortem",
]
HEAVY = ["opentelemetry", "pdbp", "stackscope", "greenback", "structlog", "devx.debug"]


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_devx_loads_nothing_heavy() -> None:
    out = _run(f"import sys, devx; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_public_names_after_a_plain_import() -> None:
    for name in PUBLIC:  # each in a fresh process: nothing imported it before
        out = _run(f"import devx; print(callable({name}))")
        assert out.strip() == "True", name


def test_public_exceptions_print_their_public_names() -> None:
    import devx

    for name in devx.__all__:
        obj = getattr(devx, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert f"{obj.__module__}.{obj.__qualname__}" == f"devx.{name}"
    out = subprocess.run(
        [sys.executable, "-c", "import devx; raise devx.NoRuntime('none here')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stderr.rstrip().endswith("devx.NoRuntime: none here")
