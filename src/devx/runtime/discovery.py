"""Finding actors by name through the registrar (see :mod:`.registry`), as the peer
project's programs do: ``find_actor``, ``wait_for_actor``, ``query_actor``,
``get_registry``. The actor found may belong to another tree (another program,
another host) that shares the registrar and the tree secret."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from ..core import events, schema
from . import registry
from .actor import Actor, current_actor
from .errors import ChannelClosed, ProtocolMismatch
from .ipc import Addr, Channel
from .msgs import ActorID
from .portal import Portal
from .registry import Entry


def _refused(addr: Addr, exc: BaseException) -> ChannelClosed:
    return ChannelClosed(
        f"the registrar at {addr} did not accept this actor's hello ({exc}): its tree "
        "has another secret; trees that share a registrar need the same "
        "DEVX_TREE_SECRET (or DEVX_TREE_SECRET_FILE)"
    )


async def _open(actor: Actor, addr: Addr, what: str, patient: str = "") -> Channel:
    """An authenticated channel to ``addr``, served by this actor until closed;
    ``patient``: see :meth:`Actor.connect_to`."""
    try:
        chan = await actor.connect_to(addr, patient)
    except ChannelClosed as exc:
        if what == "registrar":
            raise _refused(addr, exc) from None
        raise
    assert actor._service is not None
    actor._service.start_soon(actor.serve_channel, chan)
    return chan


@asynccontextmanager
async def get_registry(addr: Addr | None = None) -> AsyncIterator[Portal]:
    """A portal to the registrar: this actor's (the one it registered with) unless
    ``addr`` names another. Raises ``OSError`` when nothing listens there."""
    actor = current_actor()
    chan = actor.registrar_chan
    if addr is None and chan is not None and not chan.closed:
        yield Portal(chan)
        return
    targets = [_norm(addr)] if addr is not None else actor.registry_addrs
    if not targets:
        raise RuntimeError(f"actor {actor.path!r} knows no registrar: pass registry_addrs=")
    last: OSError | None = None
    for target in targets:
        try:
            chan = await _open(actor, target, "registrar")
        except OSError as exc:
            last = exc
            continue
        try:
            yield Portal(chan)
        finally:
            await chan.aclose()
        return
    assert last is not None
    raise _no_registrar(actor, targets, last) from last


def _no_registrar(actor: Actor, targets: Sequence[Addr], exc: OSError) -> OSError:
    """What a lookup whose registrar does not answer says: where it looked, from which
    actor, and what to do (still an ``OSError``, as a failed connect is)."""
    where = ", ".join(str(t) for t in targets)
    msg = (
        f"no registrar answers at {where} (asked by actor {actor.path!r}: {exc}); start "
        "one there (`devx registrar --listen HOST:PORT`, or a root opened with "
        "registry_addrs=[that address]), or pass the registry_addrs of a running tree"
    )
    # trio's failed connect has no errno: OSError(None, msg) would read "[Errno None] ..."
    return OSError(exc.errno, msg) if exc.errno is not None else OSError(msg)


async def _lookup(name: str, addrs: Sequence[Addr] | None, *, wait: bool = False) -> list[Entry]:
    actor = current_actor()
    table = actor.registry
    if table is not None and addrs is None:
        return await table.wait_for(name) if wait else table.find(name)
    func = "wait_for" if wait else "find"
    last: BaseException | None = None
    targets: list[Addr | None] = list(addrs) if addrs else [None]
    for addr in targets:
        try:
            async with get_registry(_norm(addr) if addr is not None else None) as portal:
                got = await portal.run_from_ns(registry.NS, func, name=name)
        except OSError as exc:
            last = exc
            continue
        return _entries(got)
    assert last is not None
    raise last


def _entries(raw: Any) -> list[Entry]:
    out = []
    for uid, addr, root, path, pid in raw:
        out.append(Entry(ActorID(*uid), _norm(addr), ActorID(*root), path, pid))
    return out


def _norm(addr: Any) -> Addr:
    return addr if isinstance(addr, str) else (str(addr[0]), int(addr[1]))


@asynccontextmanager
async def query_actor(
    name: str, regaddr: Addr | None = None
) -> AsyncIterator[tuple[Addr | None, Portal | None]]:
    """``(addr, registrar portal)`` of the newest actor registered as ``name``;
    ``(None, None)`` when none is (a portal only when the registrar is another
    actor)."""
    actor = current_actor()
    if actor.registry is not None and regaddr is None:
        found = actor.registry.find(name)
        yield (found[0].addr if found else None), None
        return
    async with get_registry(regaddr) as portal:
        raw = await portal.run_from_ns(registry.NS, "find", name=name)
        found = _entries(raw)
        yield (found[0].addr if found else None), portal


class TreePortal(Portal):
    """A portal to an actor of another tree (found through the registry): each call
    is linked in both trees' traces. Here a span with a span link to the callee
    actor's start span (exported at its boot: there while the call runs), also named
    in attributes for a search by id; there, the span serving the call links back to
    this one (the call carries its traceparent, see :attr:`Portal.links_back`)."""

    links_back = True

    async def run_from_ns(self, ns: str, func: str, **kwargs: Any) -> Any:
        chan = self.channel
        attrs: dict[str, Any] = {
            schema.REMOTE_CALL_FUNC: f"{ns}.{func}",
            schema.CALLEE_UID: str(chan.peer_uid),
            schema.CALLEE_ROOT: str(chan.peer_root),
        }
        links: list[events.Link] = []
        target = start_span_of(chan.peer_trace)
        if target is not None:
            trace_id, span_id, flags = target
            attrs[schema.LINK_TRACE_ID], attrs[schema.LINK_SPAN_ID] = trace_id, span_id
            traceparent = f"00-{trace_id}-{span_id}-{flags}"
            links.append(events.Link({"traceparent": traceparent}, {schema.LINK_KIND: "callee"}))
        with events.span(schema.REMOTE_CALL_SPAN, links=links, **attrs):
            return await super().run_from_ns(ns, func, **kwargs)


def start_span_of(carrier: dict[str, str]) -> tuple[str, str, str] | None:
    """``(trace id, span id, flags)`` of the callee actor's start span from its HelloAck
    carrier (its ``devx-anchor``, in the trace its traceparent names); its actor
    span (exported only at its exit) when it sent no anchor; None without a trace."""
    parts = carrier.get("traceparent", "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    anchor = carrier.get(schema.ANCHOR_CARRIER_KEY, "")
    return parts[1], (anchor if len(anchor) == 16 else parts[2]), parts[3]


async def _connect_first(actor: Actor, entries: list[Entry], stack: AsyncExitStack) -> list[Portal]:
    portals = []
    for entry in entries:
        try:
            # registered, so up: a hello it does not answer is a blocked loop (a
            # REPL at its prompt), waited for as a call to it would be, not "none"
            chan = await _open(actor, entry.addr, "actor", patient=entry.path or str(entry.uid))
        except ProtocolMismatch:
            raise  # not gone: another devx version, which the error names
        except (OSError, ChannelClosed, trio.TooSlowError):
            continue  # gone since it registered (its entry goes with its channel)
        stack.push_async_callback(chan.aclose)
        other_tree = actor.of_another_tree(chan)
        portals.append(TreePortal(chan) if other_tree else Portal(chan))
    return portals


@asynccontextmanager
async def find_actor(
    name: str,
    registry_addrs: Sequence[Addr] | None = None,
    *,
    only_first: bool = True,
    raise_on_none: bool = False,
) -> AsyncIterator[Any]:
    """A portal to an actor registered as ``name`` (the newest), or ``None`` when
    none is; every one of them as a list with ``only_first=False``. The channel
    closes when the block ends."""
    actor = current_actor()
    entries = await _lookup(name, registry_addrs)
    async with AsyncExitStack() as stack:
        portals: list[Portal] = []
        for entry in entries:
            portals += await _connect_first(actor, [entry], stack)
            if portals and only_first:
                break
        if not portals and raise_on_none:
            where = registry_addrs or actor.registry_addrs
            raise RuntimeError(f"no actor named {name!r} is registered at {where}")
        if only_first:
            yield portals[0] if portals else None
        else:
            yield portals


@asynccontextmanager
async def wait_for_actor(name: str, registry_addr: Addr | None = None) -> AsyncIterator[Portal]:
    """A portal to an actor registered as ``name``, waiting until one is."""
    actor = current_actor()
    addrs = [registry_addr] if registry_addr is not None else None
    while True:
        entries = await _lookup(name, addrs, wait=True)
        async with AsyncExitStack() as stack:
            portals = await _connect_first(actor, entries, stack)
            if portals:
                yield portals[0]
                return
        await trio.sleep(registry.RETRY_FIRST)  # stale entries: their channels close soon
