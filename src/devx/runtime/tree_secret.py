"""The tree's secret: what every connecting peer must present in its Hello.

A tree alone makes a fresh random one. Trees that find and call each other through
a registry share one, given by ``DEVX_TREE_SECRET`` or a file named by
``DEVX_TREE_SECRET_FILE`` (never a command-line argument: ``ps`` shows those to
every user).
"""

from __future__ import annotations

import os
import secrets
import stat

from ..core import settings

MIN_LENGTH = 16


class TreeSecretError(ValueError):
    """The configured tree secret cannot be used; the message says which and why."""


def resolve(s: settings.Settings) -> str:
    """The secret the settings give, else a fresh random one."""
    if s.tree_secret:
        return _checked(s.tree_secret, "DEVX_TREE_SECRET")
    if s.tree_secret_file:
        return _checked(read_file(s.tree_secret_file), f"the file {s.tree_secret_file}")
    return secrets.token_urlsafe(32)


def shared(s: settings.Settings) -> bool:
    """Whether the settings name a secret shared with other trees."""
    return bool(s.tree_secret or s.tree_secret_file)


def read_file(path: str) -> str:
    """The secret in ``path`` (surrounding whitespace stripped), refused unless the
    file is ours and closed to everyone else."""
    where = f"DEVX_TREE_SECRET_FILE={path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise TreeSecretError(f"{where}: cannot open it: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TreeSecretError(f"{where}: not a regular file")
        if st.st_uid != os.geteuid():
            raise TreeSecretError(f"{where}: owned by uid {st.st_uid}, not by us")
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise TreeSecretError(f"{where}: mode {mode:04o} lets others read it; chmod 600 {path}")
        with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as f:
            return f.read(4096).strip()
    finally:
        os.close(fd)


def _checked(secret: str, where: str) -> str:
    if len(secret) < MIN_LENGTH:
        raise TreeSecretError(
            f"the tree secret from {where} has {len(secret)} characters: use at least "
            f"{MIN_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret
