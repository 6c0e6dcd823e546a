"""Faults round 2 (issue 24) through real processes: no input kills an actor,
strangers never block the tree, every stream is bounded, deaths nobody asked for
are reported."""

from __future__ import annotations

import pytest
import trio

import devx
import faults_fns as ff

pytestmark = pytest.mark.timeout(120)


# --- no input kills an actor ------------------------------------------------------------


@pytest.mark.parametrize("fn", [ff.raise_bad_str, ff.raise_bad_str_async])
def test_exception_whose_str_raises_is_boxed(fn):
    """The caller gets a RemoteActorError naming the type; the actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(fn)
            assert await portal.run(ff.my_pid) == pid  # still serving, same process
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "faults_fns.BadStr"
    assert "its __str__ raised RuntimeError" in str(err)


def test_error_too_big_for_a_frame_is_truncated():
    """An error whose text would not fit a frame comes back cut, saying so; the
    actor keeps serving."""

    async def main():
        async with devx.open_nursery() as an:
            portal = await an.start_actor("w", enable_modules=["faults_fns"])
            pid = await portal.run(ff.my_pid)
            with pytest.raises(devx.RemoteActorError) as info:
                await portal.run(ff.raise_huge)
            assert await portal.run(ff.my_pid) == pid
            return info.value

    err = trio.run(main)
    assert err.boxed_type_name == "builtins.ValueError"
    assert "[message truncated: " in err.info.message
    assert f"{ff.BIG_ERROR} characters" in err.info.message
    assert len(err.info.message) < ff.BIG_ERROR // 10
