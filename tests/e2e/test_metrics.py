"""Prometheus metrics scraped from the real bot during an end-to-end run on the local Discord."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.llm_server import FakeLLMServer, Reply
from tests.services.test_metrics import free_port


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_a_scrape_shows_commands_model_reminders_cache_circuits_and_the_loop(
        bot_factory: Any, emulator: DiscordEmulator, llm: FakeLLMServer) -> None:
    port = free_port()
    llm.default = Reply(text="Hello from the model.", first_token_delay=0.05)
    await bot_factory(metrics_port=port, ollama_host=llm.url)
    alice, carol, general = emulator.member("alice"), emulator.member("carol"), emulator.channel("general")
    for inter in [await emulator.invoke(alice, general, "chat", prompt="hi"),
                  await emulator.invoke(alice, general, "remind", when="in 2s", what="stretch"),
                  await emulator.invoke(alice, general, "wiki", query="Ada Lovelace"),
                  await emulator.invoke(carol, general, "health", force=True)]:
        await inter.wait_done(timeout=10)
    await emulator.wait_for_message(general, lambda m: "stretch" in m.content and "⏰" in m.content
                                    and "set for" not in m.content, timeout=10)
    await asyncio.sleep(0.3)  # at least one event-loop lag sample
    got = await scrape(port)

    assert got[("discordbot_interactions_total", (("command", "chat"), ("outcome", "ok")))] == 1
    assert got[("discordbot_interactions_total", (("command", "health"), ("outcome", "refused")))] == 1
    assert got[("discordbot_interaction_ack_seconds_count", (("command", "chat"),))] == 1
    assert 0 < got[("discordbot_interaction_ack_seconds_sum", (("command", "chat"),))] < 3
    assert got[("discordbot_answer_seconds_count", (("kind", "/chat"),))] == 1
    assert got[("discordbot_llm_first_token_seconds_count", (("provider", "ollama"),))] == 1
    assert got[("discordbot_llm_tokens_total", (("kind", "completion"), ("provider", "ollama")))] > 0
    assert got[("discordbot_reminder_lateness_seconds_count", ())] == 1
    assert got[("discordbot_cache_lookups_total", (("namespace", "search:wikipedia"), ("result", "miss")))] >= 1
    assert got[("discordbot_circuit_state", (("service", "llm:ollama"),))] == 0
    assert got[("discordbot_service_status", (("service", "database"), ("status", "healthy")))] == 1
    assert got[("discordbot_event_loop_lag_seconds_count", ())] >= 1


async def test_without_metrics_port_nothing_listens(bot_factory: Any, emulator: DiscordEmulator) -> None:
    bot = await bot_factory()
    assert bot.get_cog("Metrics").server is None
