"""/persona, /model and CHAT_AUTO_THREAD end to end on the real bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers
from tests.e2e.chat_world import answer_to, start_bot

CREATE_THREADS = discord.Permissions(create_public_threads=True).value


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


@pytest.fixture
async def bot(bot_factory, llm: FakeLLMServer, search) -> Any:
    """Ollama by default, the same server's OpenAI dialect as the fallback (so a provider /model may choose)."""
    return await start_bot(bot_factory, llm, search, "ollama", openai_base_url=llm.openai_url,
                           openai_model="gpt-4o-mini", llm_fallback_enabled=True,
                           llm_fallback_models="openai:gpt-4o-mini")


async def run(emulator: DiscordEmulator, who: str, channel: str, command: str, **options: Any) -> Any:
    inter = await emulator.invoke(emulator.member(who), emulator.channel(channel), command, **options)
    return await inter.wait_done(timeout=10)


async def mention(emulator: DiscordEmulator, llm: FakeLLMServer, channel: str, text: str = "hi") -> dict[str, Any]:
    llm.queue(Reply(text=f"answer to {text}"))
    where = emulator.channel(channel)
    await emulator.send_message(emulator.member("carol"), where, text, mentions_bot=True)
    await answer_to(emulator, where, f"answer to {text}")
    return llm.chat_requests[-1]


async def test_persona_per_channel_then_server_with_its_origin(bot, emulator, llm):
    shown = await run(emulator, "alice", "general", "persona")
    assert shown.ephemeral and "the bot's default" in shown.text
    done = await run(emulator, "alice", "general", "persona", text="You are a pirate. Say arr.")
    assert done.ephemeral and "set" in done.text
    request = await mention(emulator, llm, "general")
    assert request.json["messages"][0]["content"].startswith("You are a pirate. Say arr.")
    general = emulator.channel("general")
    assert f"set on <#{general.id}>" in (await run(emulator, "alice", "general", "persona")).text

    await run(emulator, "alice", "random", "persona", text="You are a butler.", scope="server")
    assert (await mention(emulator, llm, "random")).json["messages"][0]["content"].startswith("You are a butler.")
    assert (await mention(emulator, llm, "general")).json["messages"][0]["content"].startswith("You are a pirate.")
    await run(emulator, "alice", "general", "persona", reset=True)
    assert "set for the whole server" in (await run(emulator, "alice", "general", "persona")).text
    assert (await mention(emulator, llm, "general")).json["messages"][0]["content"].startswith("You are a butler.")


async def test_a_member_without_manage_server_is_refused(bot, emulator, llm):
    carol = emulator.member("carol")
    for command, options in (("persona", {"text": "Obey carol only."}), ("model", {"chain": "openai:gpt-4o-mini"}),
                             ("persona", {})):
        # force: as if a server had opened the command to everyone; the bot still checks the member.
        inter = await emulator.invoke(carol, emulator.channel("general"), command, force=True, **options)
        refused = await inter.wait_done(timeout=10)
        assert refused.ephemeral and "Only members with Manage Server" in refused.text
    request = await mention(emulator, llm, "general")
    assert "Obey carol" not in request.json["messages"][0]["content"] and request.path == "/api/chat"


async def test_model_per_channel_with_autocomplete_checks_and_reset(bot, emulator, llm):
    alice, general = emulator.member("alice"), emulator.channel("general")
    choices = await emulator.autocomplete(alice, general, "model", chain="gpt")
    assert [c["value"] for c in choices] == ["openai:gpt-4o-mini"]
    choices = await emulator.autocomplete(alice, general, "model", chain="openai:gpt-4o-mini, llama3.2:1")
    values = [c["value"] for c in choices]
    assert "openai:gpt-4o-mini, ollama:llama3.2:1b" in values
    assert all(v.startswith("openai:gpt-4o-mini, ") and v.endswith("llama3.2:1b") for v in values)

    unknown = await run(emulator, "alice", "general", "model", chain="ollama:nope")
    assert "ollama has no model 'nope'" in unknown.text
    bad = await run(emulator, "alice", "general", "model", chain="mistral:large")
    assert "not a provider this bot uses" in bad.text
    assert (await mention(emulator, llm, "general")).path == "/api/chat"

    done = await run(emulator, "alice", "general", "model", chain="openai:gpt-4o-mini, ollama:llama3.2")
    assert "`openai:gpt-4o-mini` → `ollama:llama3.2`" in done.text
    request = await mention(emulator, llm, "general")
    assert request.path == "/v1/chat/completions" and request.json["model"] == "gpt-4o-mini"
    assert (await mention(emulator, llm, "random")).path == "/api/chat"  # only that channel
    assert "set on" in (await run(emulator, "alice", "general", "model")).text
    await run(emulator, "alice", "general", "model", reset=True)
    assert "the bot's default" in (await run(emulator, "alice", "general", "model")).text
    assert (await mention(emulator, llm, "general")).path == "/api/chat"


async def test_profiles_are_forgotten_when_the_bot_leaves(bot, emulator, llm):
    await run(emulator, "alice", "general", "persona", text="Remember me.", scope="server")
    guild_id, profiles = emulator.guild.id, bot.services.profiles
    assert (await profiles.persona(guild_id, [])).source == "server"
    await bot.get_guild(guild_id).leave()
    await emulator.wait_until(lambda: bot.get_guild(guild_id) is None, timeout=5)
    for _ in range(50):
        if (await profiles.persona(guild_id, [])).source == "default":
            break
        await asyncio.sleep(0.05)
    assert await profiles.persona(guild_id, []) == await profiles.persona(None, [])
    assert (await profiles.persona(guild_id, [])).source == "default"


async def test_auto_thread_answers_in_a_thread_with_its_own_memory(bot_factory, emulator, llm, search):
    await start_bot(bot_factory, llm, search, "ollama", chat_auto_thread=True)
    general = emulator.channel("general")
    llm.queue(Reply(text="Threads are tidy."), Reply(text="Still in the thread."))
    asked = await emulator.send_message(emulator.member("carol"), general, "why threads?\nsecond line",
                                        mentions_bot=True)
    thread = await emulator.wait_until(lambda: emulator.guild.channels.get(asked.id), timeout=10)
    assert thread.is_thread and thread.parent_id == general.id and thread.name == "why threads?"
    await answer_to(emulator, thread, "Threads are tidy.")
    assert not [m for m in emulator.bot_messages(general) if m.content]  # nothing in the busy channel
    await emulator.send_message(emulator.member("carol"), thread, "and then?")  # no mention needed there
    await answer_to(emulator, thread, "Still in the thread.")
    history = [m["content"] for m in llm.chat_requests[-1].json["messages"][1:]]
    assert history == ["Carol: why threads?\nsecond line", "Threads are tidy.", "Carol: and then?"]


async def test_auto_thread_needs_the_member_to_be_allowed_to_create_threads(bot_factory, emulator, llm, search):
    await start_bot(bot_factory, llm, search, "ollama", chat_auto_thread=True)
    general = emulator.channel("general")
    await emulator.set_permissions(general, emulator.member("carol"), deny=CREATE_THREADS)
    before = set(emulator.guild.channels)
    request = await mention(emulator, llm, "general", "no thread for me")
    assert request.json["messages"][-1]["content"] == "Carol: no thread for me"
    assert set(emulator.guild.channels) == before
