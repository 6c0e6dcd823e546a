# ruff: noqa: F841  (the locals are the point: a crash record shows them)
"""Functions that crash holding secrets (in a local, a nested dict, an argument) and
values whose repr misbehaves; the secrets come from the environment, never from this
source (a traceback shows source lines)."""

from __future__ import annotations

import os
import threading


class Conf:
    """An object whose own repr shows a secret it holds."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def __repr__(self) -> str:
        return f"Conf(user={self.user!r}, password={self.password!r})"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")


class StuckRepr:
    """A repr that never returns (until the process ends)."""

    def __repr__(self) -> str:
        threading.Event().wait()
        return "never"


def _connect(user: str, api_key: str) -> None:
    password = os.environ["TEL_SECRET_LOCAL"]
    settings = {"db": {"host": "db.local", "Password": os.environ["TEL_SECRET_NESTED"]}}
    url = f"postgres://{user}:{password}@db.local/app"
    conf = Conf(user, os.environ["TEL_SECRET_NESTED"])
    retries = [1, 2, 3]
    bad = BadRepr()
    raise ConnectionError(f"cannot connect as {user} after {len(retries)} tries")


async def connect() -> None:
    _connect("alice", os.environ["TEL_SECRET_ARG"])


def _from_env(pwd: str) -> None:
    DATABASE_URL = f"postgresql://app:{os.environ['TEL_SECRET_URL']}@db.internal:5432/app"
    header = ("Authorization", f"Bearer {os.environ['TEL_SECRET_BEARER']}")
    dsn = {"primary": DATABASE_URL}
    raise ConnectionError("refused")


async def credentials() -> None:
    _from_env(os.environ["TEL_SECRET_PWD"])


def _by_shape() -> None:
    short_url = f"redis://:{os.environ['TEL_SECRET_SHORT']}@cache:6379/0"
    long_url = "postgresql://svc:" + os.environ["TEL_SECRET_LONG"] + "@db.internal/app"
    basic = ("Authorization", "Basic " + os.environ["TEL_SECRET_BASIC"])
    note = "check the basic configuration of the proxy"  # prose, no credential
    hint = "see configuration"
    env = dict(os.environ)  # a copy, as for a subprocess: PWD is a directory
    out_path = os.path.join(os.environ["PWD"], "report.csv")
    key_dir = os.environ["PWD"]  # a secret's name, a directory's value
    raise ConnectionError("refused")


async def by_shape() -> None:
    _by_shape()


async def stuck() -> None:
    first = "shown"
    hang = StuckRepr()
    raise ValueError("crashed next to a stuck repr")


async def in_genexpr() -> None:
    items = [4, 2, 0]
    print(sum(10 // n for n in items))  # raises in the generator's frame, n = 0
