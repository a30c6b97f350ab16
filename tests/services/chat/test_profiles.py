"""Persona and model chain per channel and per server, persisted, with where each value comes from."""

from __future__ import annotations

import pytest

from config.settings import ModelRef
from services.chat.profiles import ChatProfileStore, ProfileError
from services.storage.backend import Backend
from tests.conftest import Backends, column

GUILD, CHANNEL, THREAD, OTHER = 1, 10, 11, 20


def store(backend: Backend) -> ChatProfileStore:
    return backend.chat_profiles(default_persona="Be friendly.", default_chain=(ModelRef("ollama", "llama3.2"),),
                                 providers=("ollama", "openrouter"))


async def test_channel_wins_over_server_over_default_and_survives_a_reopen(backends: Backends) -> None:
    before = await backends.open()
    profiles = store(before)
    assert (await profiles.persona(GUILD, [CHANNEL])).source == "default"
    await profiles.set_persona("guild", GUILD, GUILD, "Speak like a pirate.", by=5)
    await profiles.set_persona("channel", CHANNEL, GUILD, "Answer in French.", by=5)
    await before.close()
    profiles = store(await backends.open())
    thread = await profiles.persona(GUILD, [THREAD, CHANNEL])  # a thread follows its parent channel
    assert (thread.value, thread.source, thread.scope_id) == ("Answer in French.", "channel", CHANNEL)
    other = await profiles.persona(GUILD, [OTHER])
    assert (other.value, other.source) == ("Speak like a pirate.", "server")
    await profiles.set_persona("channel", CHANNEL, GUILD, None, by=5)
    assert (await profiles.persona(GUILD, [CHANNEL])).source == "server"
    assert (await profiles.persona(None, [99])).value == "Be friendly."  # a DM: the default


async def test_model_chains_are_checked_and_resolved_like_personas(backend: Backend) -> None:
    profiles = store(backend)
    chain = await profiles.set_chain("channel", CHANNEL, GUILD, " openrouter:meta-llama/x:free , ollama:llava ", by=5)
    assert chain == (ModelRef("openrouter", "meta-llama/x:free"), ModelRef("ollama", "llava"))
    assert (await profiles.chain(GUILD, [CHANNEL])).value == chain
    assert (await profiles.chain(GUILD, [OTHER])).value == (ModelRef("ollama", "llama3.2"),)
    with pytest.raises(ProfileError, match="'openai' is not a provider this bot uses; choose from ollama, openrouter"):
        await profiles.set_chain("guild", GUILD, GUILD, "openai:gpt-4o-mini", by=5)
    with pytest.raises(ProfileError, match="not provider:model"):
        await profiles.set_chain("guild", GUILD, GUILD, "llama3.2", by=5)
    with pytest.raises(ProfileError, match="limit is 4,000"):
        await profiles.set_persona("guild", GUILD, GUILD, "x" * 4001, by=5)


async def test_clearing_both_removes_the_row_and_a_server_can_be_forgotten(backend: Backend) -> None:
    profiles = store(backend)
    await profiles.set_persona("channel", CHANNEL, GUILD, "Short answers.", by=5)
    await profiles.set_chain("channel", CHANNEL, GUILD, "ollama:llava", by=5)
    await profiles.set_persona("channel", CHANNEL, GUILD, None, by=5)
    await profiles.set_chain("channel", CHANNEL, GUILD, None, by=5)
    assert await column(backend, "SELECT scope_id FROM chat_profiles") == []
    await profiles.set_persona("guild", GUILD, GUILD, "Pirate.", by=5)
    assert await profiles.forget_guild(GUILD) == 1
    assert (await profiles.persona(GUILD, [CHANNEL])).source == "default"
    big = 2**62  # Discord ids are 64-bit
    await profiles.set_persona("channel", big, big, "Wide ids.", by=big)
    assert (await profiles.persona(big, [big])).value == "Wide ids."
