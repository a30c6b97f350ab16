"""Voice opt-outs (/voice-optout, /voice-optin): one row per member, for every server, on both backends."""

from __future__ import annotations

from services.storage.backend import Backend
from tests.conftest import Backends


async def test_opt_out_and_back_in_say_whether_anything_changed(backend: Backend) -> None:
    store = backend.voice_optouts(clock=lambda: 1000.0)
    big = 2**62  # Discord ids are 64-bit
    assert await store.opted_out([]) == set()
    assert await store.set(5, opted_out=True) is True
    assert await store.set(5, opted_out=True) is False  # already out
    assert await store.set(big, opted_out=True) is True
    assert await store.opted_out([5, 6, big, 5]) == {5, big}
    assert await store.set(6, opted_out=False) is False  # was never out
    assert await store.set(5, opted_out=False) is True
    assert await store.opted_out([5, 6, big]) == {big}


async def test_an_opt_out_survives_a_restart_and_is_seen_by_another_process(backends: Backends) -> None:
    first = (await backends.open()).voice_optouts()
    await first.set(7, opted_out=True)
    second = (await backends.open()).voice_optouts()
    assert await second.opted_out(range(1000)) == {7}
