"""The peer project's ``get_runtime_vars()`` and ``hard_kill`` (``ActorNursery.cancel``,
``Portal.cancel_actor``, ``open_actor_cluster``), through real actor processes."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import devx
import peer_api_fns
from conftest import scaled

pytestmark = pytest.mark.timeout(90)


# --- get_runtime_vars -------------------------------------------------------------------


def _plain(addr: Any) -> Any:
    return addr if isinstance(addr, str) else list(addr)


def test_runtime_vars_of_a_root_its_children_and_no_runtime():
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {"before": devx.get_runtime_vars()}
        async with devx.open_root_actor(debug_mode=True, enable_stack_on_sig=True) as root:
            seen["root"] = devx.get_runtime_vars()
            seen["root_struct"] = devx.get_runtime_vars(as_dict=False)
            seen["cleared"] = devx.get_runtime_vars(clear_values=True)
            seen["listen"] = root.listen_addr
            async with devx.open_nursery() as an:
                plain = await an.start_actor("plain", enable_modules=["peer_api_fns"])
                aio = await an.start_actor(
                    "aio", enable_modules=["peer_api_fns"], infect_asyncio=True
                )
                with trio.fail_after(scaled(20)):
                    seen["child"] = await plain.run(peer_api_fns.runtime_vars)
                    seen["aio"] = await aio.run(peer_api_fns.async_runtime_vars)
        seen["after"] = devx.get_runtime_vars()
        return seen

    seen = trio.run(main)
    defaults = {
        "_is_root": False,
        "_root_mailbox": (None, None),
        "_root_addrs": [],
        "_enable_tpts": ["tcp"],
        "_registry_addrs": [],
        "_debug_mode": False,
        "repl_fixture": False,
        "use_greenback": False,
        "use_stackscope": False,
        "_is_infected_aio": False,
    }
    assert seen["before"] == seen["after"] == seen["cleared"] == defaults
    listen = seen["listen"]
    root = seen["root"]
    assert root == {
        **defaults,
        "_is_root": True,
        "_root_mailbox": listen,
        "_root_addrs": [listen],
        "_registry_addrs": [listen],  # a root without registry_addrs is the registrar
        "_debug_mode": True,
        "use_greenback": True,
        "use_stackscope": True,
    }
    assert seen["root_struct"]._root_mailbox == listen and seen["root_struct"]._is_root
    child = seen["child"]  # over the wire: tuples arrive as lists
    assert child["_is_root"] is False and child["_debug_mode"] is True
    assert child["_root_mailbox"] == list(listen) and child["_registry_addrs"] == [list(listen)]
    assert child["_is_infected_aio"] is False
    assert seen["aio"]["_is_infected_aio"] is True


def test_runtime_vars_over_unix_sockets():
    async def main() -> tuple[Any, dict[str, Any], dict[str, Any]]:
        async with devx.open_nursery(transport="uds") as an:
            root = devx.get_runtime_vars()
            portal = await an.start_actor("kid", enable_modules=["peer_api_fns"])
            with trio.fail_after(scaled(20)):
                child = await portal.run(peer_api_fns.runtime_vars)
            return devx.current_actor().listen_addr, root, child

    listen, root, child = trio.run(main)
    assert isinstance(listen, str)  # a socket path
    assert root["_root_mailbox"] == child["_root_mailbox"] == listen
    assert root["_enable_tpts"] == child["_enable_tpts"] == ["uds"]
