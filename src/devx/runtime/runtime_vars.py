"""The peer project's ``get_runtime_vars()``: this actor's runtime facts under the
keys the peer's programs read (``_is_root``, ``_debug_mode``, ``_root_mailbox``,
``_registry_addrs`` ...), computed from devx's live state on each call.

A snapshot, never a handle: changing it changes nothing (devx has no
``set_runtime_vars``). Addresses are devx's plain form, what devx's discovery functions
take: ``(host, port)`` for TCP, a socket path for UDS (the peer's UDS form is
``(directory, file name)``).
"""

from __future__ import annotations

import sys
from typing import Any, Literal, overload

import msgspec

from .actor import current_actor
from .ipc import Addr


class RuntimeVars(msgspec.Struct):
    """The peer's fields, with what each means in devx."""

    _is_root: bool = False  # this process runs the root actor of its tree
    _root_mailbox: tuple[str | None, int | None] | str = (None, None)  # where the root listens
    _root_addrs: list[tuple[str, int] | str] = msgspec.field(default_factory=list)
    _enable_tpts: list[str] = msgspec.field(default_factory=lambda: ["tcp"])  # the tree's one
    _registry_addrs: list[tuple[str, int] | str] = msgspec.field(default_factory=list)
    _debug_mode: bool = False
    repl_fixture: bool = False  # the peer's REPL hook: devx has none
    use_greenback: bool = False  # breakpoint()/pause_from_sync() on trio tasks work
    use_stackscope: bool = False  # stack dumps on SIGUSR1 (enable_stack_on_sig)
    _is_infected_aio: bool = False  # trio runs as a guest of an asyncio loop here


def _plain(addr: Addr) -> tuple[str, int] | str:
    return addr if isinstance(addr, str) else (addr[0], addr[1])


def _infected_aio() -> bool:
    asyncio = sys.modules.get("asyncio")  # never imported here by devx otherwise
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def current() -> RuntimeVars:
    """This process's runtime facts now (the defaults when no actor runs)."""
    actor = current_actor(err_on_no_runtime=False)
    if actor is None:
        return RuntimeVars()
    root = actor.listen_addr if actor.is_root else actor.root_addr
    cfg = actor.config
    return RuntimeVars(
        _is_root=actor.is_root,
        _root_mailbox=_plain(root) if root is not None else (None, None),
        _root_addrs=[_plain(root)] if root is not None else [],
        _enable_tpts=[actor.transport],
        _registry_addrs=[_plain(a) for a in actor.registry_addrs],
        _debug_mode=cfg.debug_mode,
        use_greenback=cfg.debug_mode or cfg.maybe_enable_greenback,
        use_stackscope=cfg.enable_stack_on_sig,
        _is_infected_aio=_infected_aio(),
    )


@overload
def get_runtime_vars(
    as_dict: Literal[True] = True, clear_values: bool = False
) -> dict[str, Any]: ...
@overload
def get_runtime_vars(as_dict: Literal[False], clear_values: bool = False) -> RuntimeVars: ...


def get_runtime_vars(
    as_dict: bool = True, clear_values: bool = False
) -> dict[str, Any] | RuntimeVars:
    """A copy of this actor's runtime variables: a ``dict`` (the peer's default) or,
    with ``as_dict=False``, a :class:`RuntimeVars`. ``clear_values=True``: the values of
    a process that runs no actor."""
    rtv = RuntimeVars() if clear_values else current()
    if not as_dict:
        return rtv
    return {name: getattr(rtv, name) for name in rtv.__struct_fields__}
