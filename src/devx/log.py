"""Logging for programs written for the peer runtime (tractor's ``tractor.log``):
``get_logger(name)`` and ``get_console_log(level)``, on devx's own logging.

A logger from here is ``devx.<name>``, a child of the runtime's ``devx`` logger, so
its records go out the way the runtime's do: through the console gate (held back
while a REPL is live), one readable line headed by the actor's path and pid on a
terminal, JSON lines otherwise (``DEVX_LOG_FORMAT``), into ``DEVX_LOG_FILE`` and with
the trace ids when telemetry is on (structlog JSON when the program uses structlog).
The peer's extra levels (``transport`` 5, ``runtime`` 15, ``devx`` 17, ``cancel`` 22,
``pdb`` 500) are methods of the adapter, as there. No colours, no ``colorlog``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from .core.levels import PEER_LEVELS, level_number, name_levels
from .runtime import log as _runtime_log

ROOT = "devx"

CUSTOM_LEVELS: dict[str, int] = PEER_LEVELS
name_levels()


def _level_no(level: int | str) -> int:
    """``"info"``, ``"INFO"``, ``"cancel"`` or ``20`` as a number; an unknown name is
    a ``ValueError`` listing the known ones."""
    return level_number(level)


class StackLevelAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger with the peer's extra level methods; records name the caller's line."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, object] | None = None):
        super().__init__(logger, extra or {})

    @property
    def level(self) -> str:
        """The effective level's name in lower case (``"info"``)."""
        return str(logging.getLevelName(self.logger.getEffectiveLevel())).lower()

    def at_least_level(self, level: int | str) -> bool:
        return bool(self.logger.isEnabledFor(_level_no(level)))

    def _custom(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.logger.isEnabledFor(level):
            kwargs.setdefault("stacklevel", 3)  # the caller's file:line, past this module
            self.logger.log(level, msg, *args, **kwargs)

    def transport(self, msg: object, *args: object, **kwargs: Any) -> None:
        """IPC transport detail."""
        self._custom(CUSTOM_LEVELS["TRANSPORT"], msg, *args, **kwargs)

    def runtime(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._custom(CUSTOM_LEVELS["RUNTIME"], msg, *args, **kwargs)

    def devx(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._custom(CUSTOM_LEVELS["DEVX"], msg, *args, **kwargs)

    def cancel(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Cancellation sequencing."""
        self._custom(CUSTOM_LEVELS["CANCEL"], msg, *args, **kwargs)

    def pdb(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Debugger status (shown at any level below 500)."""
        self._custom(CUSTOM_LEVELS["PDB"], msg, *args, **kwargs)


def _logger_name(name: str | None, pkg_name: str) -> str:
    if not name or name == pkg_name:
        return pkg_name
    if name.startswith(pkg_name + "."):
        return name
    return f"{pkg_name}.{name}"


def get_logger(
    name: str | None = None,
    pkg_name: str = ROOT,
    *,
    logger: logging.Logger | None = None,
    _root_name: str | None = None,
) -> StackLevelAdapter:
    """The logger ``devx.<name>`` (``devx`` itself without a name), wrapped with the
    peer's level methods. ``logger=`` wraps a logger of your own instead;
    ``pkg_name=`` (the peer's ``_root_name``) roots the name elsewhere, outside
    devx's handler (``get_console_log`` then gives it one)."""
    if logger is None:
        logger = logging.getLogger(_logger_name(name, _root_name or pkg_name))
    return StackLevelAdapter(logger)


def _lineage() -> dict[str, Any]:
    from .runtime.actor import current_actor

    actor = current_actor(err_on_no_runtime=False)
    return actor.lineage_attrs() if actor is not None else {}


def get_console_log(
    level: int | str | None = None,
    logger: logging.Logger | StackLevelAdapter | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> StackLevelAdapter:
    """Show this process's records of ``level`` and above on stderr and return the
    logger (``devx``, or ``devx.<name>``, or ``logger``).

    For the ``devx`` logger the level is kept when the runtime later opens without a
    ``loglevel=`` (an explicit ``loglevel=`` wins; ``DEVX_LOG_LEVEL`` applies only when
    neither is given), so the peer's habit of calling this at module level works in
    the root and in every child that imports the module."""
    log = (
        logger
        if isinstance(logger, StackLevelAdapter)
        else get_logger(name, logger=logger, **kwargs)
    )
    if level is None:
        return log
    number = _level_no(level)
    base = log.logger
    base.setLevel(number)
    if base.name == ROOT:
        _runtime_log.request_level(number)
    if base.name == ROOT or base.name.startswith(ROOT + "."):
        _runtime_log.ensure_handler(_lineage())  # records of devx.* go out the runtime's way
    elif not any(getattr(h, "stream", None) in (sys.stderr, sys.__stderr__) for h in base.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_runtime_log.formatter(_lineage()))
        base.addHandler(handler)
    return log


def get_loglevel() -> str | None:
    """The level ``get_console_log`` asked for on the ``devx`` logger (lower case), or
    ``None``."""
    number = _runtime_log.requested_level()
    return None if number is None else logging.getLevelName(number).lower()


__all__ = ["CUSTOM_LEVELS", "StackLevelAdapter", "get_console_log", "get_logger", "get_loglevel"]
