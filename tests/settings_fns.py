"""What a child actor sees of the tree's settings (an importable module for
tests/test_settings.py)."""

from __future__ import annotations

import os

from devx.core import settings


def seen() -> dict[str, object]:
    """The child's installed settings next to its inherited environment."""
    s = settings.current()
    return {
        "stream_window": s.stream_window,
        "cancel_grace": s.cancel_grace,
        "env_stream_window": os.environ.get("DEVX_STREAM_WINDOW"),
    }


async def grandchild_seen() -> dict[str, object]:
    """What a child of this actor sees (settings passed on by a non-root parent)."""
    import devx

    async with devx.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=["settings_fns"])
        got = await portal.run(seen)
        await portal.cancel_actor()
        return got
