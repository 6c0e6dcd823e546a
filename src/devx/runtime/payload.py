"""Typed payloads of a context (``@devx.context(pld_spec=Point | None)``, the peer
project's ``pld_spec``): every value the context carries (``started``, stream items
both ways, the callee's return value) must be of the spec, a type msgspec can check
(a ``msgspec.Struct``, a union with ``None``, ``list[int]``, ...).

A value is checked where it is sent, as the receiver would decode it (so a struct
built with a wrong field type is caught too), and converted where it is received
(a struct arrives as a struct, not as the dict the wire carries). A value of another
type raises :class:`devx.MsgTypeError` in the side that sent or received it, naming
the context, the actor, the spec and what it got. Without a spec nothing is checked
and nothing changes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import MsgTypeError

SPEC_ATTR = "__devx_pld_spec__"


def spec_name(spec: Any) -> str:
    """``Point | None`` rather than ``typing.Optional[__main__.Point]``."""
    args = getattr(spec, "__args__", None)
    if args and type(spec).__name__ in ("UnionType", "_UnionGenericAlias"):
        return " | ".join(spec_name(a) for a in args)
    if spec is type(None):
        return "None"
    return getattr(spec, "__qualname__", None) or repr(spec)


def check_spec(spec: Any, fn_name: str) -> None:
    """Refuse at decoration a spec msgspec cannot check (a ``TypeError`` naming it)."""
    try:
        msgspec.inspect.type_info(spec)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"@devx.context(pld_spec={spec!r}) on {fn_name}: not a type msgspec can "
            f"check ({exc}); use a msgspec.Struct, a builtin type or a union of them"
        ) from None


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(value).__name__} {text}"


def outgoing(
    spec: Any, value: Any, what: str, where: str, outcome: str = "nothing was sent"
) -> None:
    """Check ``value`` about to be sent as ``what`` (``"the started() value"``...)."""
    try:
        plain = msgspec.to_builtins(value)
    except TypeError:
        return  # not encodable at all: the encoder says so (IPCEncodeError)
    try:
        msgspec.convert(plain, spec)
    except msgspec.ValidationError as exc:
        raise MsgTypeError(
            f"{what} in {where} is not of the context's pld_spec {spec_name(spec)}: "
            f"got {_describe(value)} ({exc}); {outcome}"
        ) from None


def incoming(spec: Any, value: Any, what: str, where: str, sender: str) -> Any:
    """``value`` received as ``what`` from ``sender``, converted to ``spec``."""
    try:
        return msgspec.convert(value, spec)
    except (msgspec.ValidationError, TypeError) as exc:
        raise MsgTypeError(
            f"{what} received in {where} from {sender} is not of the context's pld_spec "
            f"{spec_name(spec)}: got {_describe(value)} ({exc})"
        ) from None
