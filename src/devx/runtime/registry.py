"""The registrar: which actors are up, by name, and where they listen.

One actor holds the table (the root of a tree by default, or ``devx registrar``);
every actor of every tree that shares its address and the tree secret registers
there when it starts (a :class:`~devx.runtime.msgs.Register` frame over a channel it
keeps open) and is forgotten when it says :class:`~devx.runtime.msgs.Unregister` or
when that channel closes: an actor killed with SIGKILL is gone from the table as
soon as the registrar reads the end of its connection. An actor whose registrar
goes away reconnects and registers again once one listens there again.

Lookups are calls into this module (enabled in the registrar only): :func:`find`,
:func:`wait_for`, :func:`list_actors`, and the peer project's :func:`get_registry`,
:func:`find_actor`, :func:`wait_for_actor`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from .errors import ChannelClosed
from .ipc import Addr, Channel
from .msgs import ActorID, Register, Unregister

if TYPE_CHECKING:
    from .actor import Actor

log = logging.getLogger("devx.runtime")

NS = __name__  # the registrar's calls: portal.run_from_ns(NS, "find", name=...)
# reconnecting to a registrar that went away: first wait, doubled up to the cap
RETRY_FIRST = 0.02
RETRY_CAP = 0.5
# how long a booting actor waits for its first attempt to register before reporting
# ready anyway (a registrar that is down or unreachable never holds a boot up longer)
FIRST_REGISTER_TIMEOUT = 2.0


class Entry(msgspec.Struct, frozen=True, array_like=True):
    """One registered actor, as lookups return it."""

    uid: ActorID
    addr: tuple[str, int] | str
    root_uid: ActorID
    path: str
    pid: int


class Registry:
    """The registrar's table: entries by uuid, the channel each came over, and the
    tasks waiting for a name."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}  # by uuid, oldest first
        self._via: dict[str, int] = {}  # uuid -> id() of the channel it registered over
        self._changed = trio.Event()
        self.version = 0  # counts the changes (add, remove)

    def add(self, msg: Register, chan: Channel | None) -> None:
        entry = Entry(msg.uid, _addr(msg.addr), msg.root_uid, msg.path, msg.pid)
        self.entries.pop(msg.uid.uuid, None)
        self.entries[msg.uid.uuid] = entry
        if chan is not None:
            self._via[msg.uid.uuid] = id(chan)
        log.debug("registered %s at %s", msg.uid, entry.addr)
        self._wake()

    def remove(self, uid: ActorID) -> None:
        if self.entries.pop(uid.uuid, None) is not None:
            log.debug("unregistered %s", uid)
            self._wake()
        self._via.pop(uid.uuid, None)

    def drop_channel(self, chan: Channel) -> None:
        """``chan`` closed: forget every actor that registered over it."""
        gone = [u for u, c in self._via.items() if c == id(chan)]
        for uuid in gone:
            entry = self.entries.pop(uuid, None)
            self._via.pop(uuid, None)
            if entry is not None:
                log.debug("unregistered %s: its channel closed", entry.uid)
        if gone:
            self._wake()

    def find(self, name: str) -> list[Entry]:
        """Entries named ``name``, newest first."""
        return [e for e in reversed(self.entries.values()) if e.uid.name == name]

    async def changed(self) -> None:
        """Wait for the next change of the table (an actor added or gone)."""
        await self._changed.wait()

    async def wait_for(self, name: str) -> list[Entry]:
        while True:
            found = self.find(name)
            if found:
                return found
            await self._changed.wait()

    def _wake(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = trio.Event()


def _addr(addr: Any) -> Addr:
    return addr if isinstance(addr, str) else (str(addr[0]), int(addr[1]))


def _table() -> Registry:
    from .actor import current_actor

    actor = current_actor()
    if actor.registry is None:
        raise RuntimeError(f"actor {actor.path!r} is not a registrar")
    return actor.registry


# --- the registrar's calls (run in the registrar) ----------------------------------------


def find(name: str) -> list[Entry]:
    """Every registered actor named ``name``, newest first."""
    return _table().find(name)


async def wait_for(name: str) -> list[Entry]:
    """Like :func:`find`, once at least one actor named ``name`` is registered."""
    return await _table().wait_for(name)


def list_actors() -> list[Entry]:
    """Every registered actor, oldest first."""
    return list(_table().entries.values())


# the peer project's registrar calls (its ``portal.run_from_ns("self", name)`` on the
# registrar's portal, ``Actor.get_registry()`` in the registrar): same names and shapes
PEER_CALLS = frozenset({"get_registry", "find_actor", "wait_for_actor"})


def peer_key(uid: ActorID) -> str:
    """The peer's registry key: ``"name.uuid"`` (``tuple(key.split("."))`` is the uid)."""
    return f"{uid.name}.{uid.uuid}"


def get_registry() -> dict[str, list[Addr]]:
    """Every registered actor as the peer's registrar lists them: ``{"name.uuid":
    [address]}``, oldest first."""
    return {peer_key(e.uid): [e.addr] for e in _table().entries.values()}


def find_actor(name: str) -> list[Addr] | None:
    """The addresses of the newest actor named ``name``, None when none is up."""
    found = _table().find(name)
    return [found[0].addr] if found else None


async def wait_for_actor(name: str) -> list[Addr]:
    """The addresses of every actor named ``name``, once one registered."""
    return [e.addr for e in await _table().wait_for(name)]


# --- an actor keeping itself registered ----------------------------------------------------


def register_msg(actor: Actor) -> Register:
    assert actor.listen_addr is not None
    return Register(
        uid=actor.uid,
        addr=actor.listen_addr,
        root_uid=actor.root_uid,
        path=actor.path,
        pid=actor.pid,
    )


async def keep_registered(actor: Actor, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Register ``actor``: in its own table when it is the registrar; over its channel
    to its parent when that is the registrar (the channel's end ends the actor); else
    over a channel to the registrar, again each time that channel is lost (the
    registrar died and came back: a service task for the actor's whole life). Reports
    started once the first attempt registered or failed (bounded by
    :data:`FIRST_REGISTER_TIMEOUT`): a registrar that is down costs a boot one refused
    connection, not a wait."""
    await actor.ensure_listener()
    if actor.registry is not None:
        actor.registry.add(register_msg(actor), None)
        task_status.started()
        return
    started = False
    delay = RETRY_FIRST
    deadline = trio.current_time() + FIRST_REGISTER_TIMEOUT
    while True:
        chan: Channel | None = None  # (the first attempt's deadline may come first)
        with trio.move_on_at(deadline if not started else float("inf")):
            chan = await _registrar_channel(actor)
            if chan is not None:
                try:
                    await chan.send(register_msg(actor))
                except ChannelClosed:
                    chan = None
        if chan is not None:
            delay = RETRY_FIRST
            actor.registrar_chan = chan
            actor.note_registered(chan.peer_desc)
            if not started:
                started = True
                task_status.started()
            if chan is actor.parent_chan:
                # registered with our parent over our channel to it: the end of that
                # channel ends this actor (serve_channel cancels it), so there is nothing
                # to register again, and no task is left waiting for it (one less to
                # cancel in every child's teardown)
                return
            await _wait_closed(chan)
            actor.registrar_chan = None
            log.debug("actor %s lost its registrar: registering again once it is back", actor.path)
            continue
        if not started:
            started = True
            task_status.started()
        await trio.sleep(delay)
        delay = min(delay * 2, RETRY_CAP)


async def _wait_closed(chan: Channel) -> None:
    await chan.gone.wait()  # set by the channel's reader once it ends


async def _registrar_channel(actor: Actor) -> Channel | None:
    """A served channel to the first registrar that answers; None when none does
    (the reasons are logged, rate-limited)."""
    for addr in actor.registry_addrs:
        if not actor.is_root and addr == actor.root_addr:
            # the registrar is our root: the channel we have to it (our parent's when
            # it is our parent) is the one whose end the registrar notices
            try:
                return await actor.root_channel()
            except (OSError, ChannelClosed, trio.TooSlowError) as exc:
                actor.note_registrar_problem(addr, exc)
                continue
        try:
            chan = await actor.connect_to(addr)
        except ChannelClosed as exc:
            why = f"{exc}: does this tree share the registrar's DEVX_TREE_SECRET?"
            actor.note_registrar_problem(addr, ChannelClosed(why))
            continue
        except (OSError, trio.TooSlowError) as exc:
            actor.note_registrar_problem(addr, exc)
            continue
        assert actor._service is not None
        actor._service.start_soon(actor.serve_channel, chan)
        return chan
    return None


async def unregister(actor: Actor) -> None:
    """Say goodbye to the registrar (shielded, bounded): the entry goes at once rather
    than when the channel's end is read. Not over the channel to our parent (when it
    is the registrar): the end of that channel follows at once, as the actor stops,
    and drops the entry the same (a frame and a wake-up less in every teardown)."""
    if actor.registry is not None:
        actor.registry.remove(actor.uid)
        return
    chan = actor.registrar_chan
    if chan is None or chan.closed or chan is actor.parent_chan:
        return
    with trio.CancelScope(shield=True) as cs:
        cs.deadline = trio.current_time() + 0.5
        try:
            await chan.send(Unregister(uid=actor.uid))
        except ChannelClosed:
            pass
