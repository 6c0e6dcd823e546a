"""Log level names, wherever a level is given (``loglevel=``, ``DEVX_LOG_LEVEL``,
``devx.log.get_console_log``): the stdlib's and the peer project's extra ones
(tractor's ``transport`` 5, ``runtime`` 15, ``devx`` 17, ``cancel`` 22, ``pdb`` 500),
in one table, so that every layer reads a name the same way."""

from __future__ import annotations

import logging
from typing import Final

PEER_LEVELS: Final[dict[str, int]] = {
    "TRANSPORT": 5,
    "RUNTIME": 15,
    "DEVX": 17,
    "CANCEL": 22,
    "PDB": 500,
}
_STDLIB: Final[dict[str, int]] = {
    "NOTSET": logging.NOTSET,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.FATAL,
}
KNOWN: Final[tuple[str, ...]] = tuple(
    sorted({*PEER_LEVELS, "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, key=str.lower)
)


def level_number(level: int | str) -> int:
    """``"info"``, ``"CANCEL"``, ``"17"`` or ``20`` as a number; any other name is a
    ``ValueError`` listing the known ones."""
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    found = _STDLIB.get(name, PEER_LEVELS.get(name))
    if found is None:
        raise ValueError(
            f"unknown log level {level!r}: use one of {', '.join(KNOWN)} (any case) or a number"
        )
    return found


def name_levels() -> None:
    """Give the peer's levels their names in log records (``cancel``, not ``Level 22``)."""
    for name, value in PEER_LEVELS.items():
        if logging.getLevelName(value) == f"Level {value}":
            logging.addLevelName(value, name)
