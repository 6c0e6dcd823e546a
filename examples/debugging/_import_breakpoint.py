"""A module with a `breakpoint()` at its top level, enabled in a child: the child hits
it while it imports its modules at boot (examples/debugging/child_import_breakpoint.py)."""

CONFIG = {"a": 1}
breakpoint()
VALUE = 42


def get() -> int:
    return VALUE
