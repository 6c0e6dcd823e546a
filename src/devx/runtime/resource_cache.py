"""One async context manager shared by the tasks of an actor (the peer project's
``trionics.maybe_open_context``): the first task to ask for a key opens it, every
task asking while it is open gets the same value, the last to leave closes it.

Why a service task holds the resource: a trio context manager (a nursery, a cancel
scope, a stream) must be exited by the task that entered it, and the first user may
leave long before the others. So the resource is entered and exited by a task of the
actor's service nursery (or of the nursery ``tn=``), and users only borrow its value.

Rules users rely on (each tested through real actors in tests/test_peer_cache.py):
- one lock per key: entrants queue while the first opens it, and while the last
  closes it (an entrant then gets a fresh resource, never one being torn down);
- a first opener cancelled (or failing) while it opens leaves nothing behind: the
  next entrant in the queue opens it anew, as a cache miss;
- the last user waits for the resource's exit, even when cancelled, and gets the
  exit's error (``Exception`` only) raised at its ``async with``;
- keys of different values of the same function live and die independently.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import trio

from .actor import current_actor
from .errors import NoRuntime

T = TypeVar("T")


class _Entry:
    """One open resource: its value, how many tasks use it, how its exit went."""

    def __init__(self) -> None:
        self.value: Any = None
        self.users = 0
        self.release = trio.Event()  # the last user left: exit the resource
        self.exited = trio.Event()  # the resource's exit finished (or was cancelled)
        self.exit_error: Exception | None = None


class _Cache:
    """Per trio run (so per actor, and fresh for every ``trio.run``)."""

    def __init__(self) -> None:
        self.locks: dict[Hashable, trio.StrictFIFOLock] = {}
        self.entries: dict[Hashable, _Entry] = {}


_CACHE: trio.lowlevel.RunVar[_Cache] = trio.lowlevel.RunVar("devx.resource_cache")


def _cache() -> _Cache:
    try:
        return _CACHE.get()
    except LookupError:
        cache = _Cache()
        _CACHE.set(cache)
        return cache


def _key(
    acm_func: Callable[..., Any], kwargs: dict[str, Any], key: Hashable | Callable[..., Hashable]
) -> Hashable:
    if inspect.isfunction(key):
        sub: Any = key(**kwargs)
    else:
        sub = key if key is not None else tuple(kwargs.items())
    full = (acm_func, sub)
    try:
        hash(full)
    except TypeError as exc:
        raise TypeError(
            f"maybe_open_context({getattr(acm_func, '__qualname__', acm_func)!r}): the cache "
            f"key {sub!r} is not hashable ({exc}); without key= the kwargs are the key, so "
            "their values must be hashable: pass key= (a value, or a function of the kwargs)"
        ) from None
    return full


def _service_nursery(tn: trio.Nursery | None, acm_func: Callable[..., Any]) -> trio.Nursery:
    if tn is not None:
        return tn
    actor = current_actor(err_on_no_runtime=False)
    nursery = getattr(actor, "_service", None)
    if nursery is None:
        raise NoRuntime(
            f"maybe_open_context({getattr(acm_func, '__qualname__', acm_func)!r}): no devx "
            "actor runs here, and its service nursery holds the resource; open one "
            "(devx.open_root_actor()) or pass tn=, a nursery that outlives every user"
        )
    assert isinstance(nursery, trio.Nursery)
    return nursery


async def _hold(
    cache: _Cache,
    key: Hashable,
    mngr: AbstractAsyncContextManager[Any],
    entry: _Entry,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The service task: enter ``mngr``, hand its value over, exit it once the last
    user left (or when the service nursery is cancelled)."""
    entered = False
    try:
        async with mngr as value:
            entered = True
            entry.value = value
            task_status.started()
            await entry.release.wait()
    except Exception as exc:
        if not entered:
            raise  # to the opener, through nursery.start()
        entry.exit_error = exc  # to the last user, at its own `async with`
    finally:
        if cache.entries.get(key) is entry:  # exited under its users: not to be reused
            del cache.entries[key]
        entry.exited.set()


@asynccontextmanager
async def maybe_open_context(
    acm_func: Callable[..., AbstractAsyncContextManager[T]],
    kwargs: dict[str, Any] | None = None,
    key: Hashable | Callable[..., Hashable] = None,
    tn: trio.Nursery | None = None,
) -> AsyncIterator[tuple[bool, T]]:
    """Yield ``(cache_hit, value)`` of ``acm_func(**kwargs)``, opened once per key in
    this actor and shared by every task using it meanwhile: the first task gets
    ``cache_hit=False``, the others ``True``; the resource is exited when its last
    user leaves (which waits for that exit and gets its error). The key is
    ``key`` (or ``key(**kwargs)`` when it is a function), else the kwargs, always
    together with ``acm_func``. ``tn``: the nursery whose task holds the resource
    (default: the actor's service nursery); it must outlive every user."""
    kwargs = dict(kwargs or {})
    full_key = _key(acm_func, kwargs, key)
    service = _service_nursery(tn, acm_func)
    cache = _cache()
    lock = cache.locks.setdefault(full_key, trio.StrictFIFOLock())
    try:
        async with lock:
            entry = cache.entries.get(full_key)
            hit = entry is not None
            if entry is None:
                entry = _Entry()
                # the opener waits here; cancelled meanwhile, nursery.start() cancels
                # the entry too, and the lock goes to the next entrant (a cache miss)
                await service.start(_hold, cache, full_key, acm_func(**kwargs), entry)
                cache.entries[full_key] = entry
            entry.users += 1
    except BaseException:
        _forget_lock(cache, full_key, lock)
        raise
    last = False
    try:
        yield hit, entry.value
    finally:
        with trio.CancelScope(shield=True):
            async with lock:
                entry.users -= 1
                last = entry.users == 0
                if last:
                    if cache.entries.get(full_key) is entry:
                        del cache.entries[full_key]
                    entry.release.set()
                    await entry.exited.wait()  # entrants queue until the exit is done
            if last:
                _forget_lock(cache, full_key, lock)
        if last and entry.exit_error is not None:
            raise entry.exit_error


def _forget_lock(cache: _Cache, key: Hashable, lock: trio.StrictFIFOLock) -> None:
    """Drop an idle key's lock (a long-lived actor opening many keys does not grow);
    one a task waits on or holds stays."""
    stats = lock.statistics()
    if (
        not stats.locked
        and not stats.tasks_waiting
        and key not in cache.entries
        and cache.locks.get(key) is lock
    ):
        del cache.locks[key]
