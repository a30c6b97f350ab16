"""/health and the background monitor end to end: the real bot on the emulator, services as local servers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from config.settings import LLM_PROVIDERS
from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.speech_servers import FakeKokoro, Fault

SERVICES = [*(f"llm:{p}" for p in LLM_PROVIDERS), "tts:kokoro", "stt:whisper", "rvc", "search:web (duckduckgo)",
            "search:wikipedia", "search:urban", "database", "discord:gateway"]
RVC_KEY = "plain-rvc-key-7d41"  # a configured secret with no key-like shape


class GatedKokoro(FakeKokoro):
    """Kokoro whose /health answers only once `gate` is set (a probe that stays in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = asyncio.Event()  # a request is waiting at the closed gate

    async def _health(self, request: web.Request) -> web.Response:
        if not self.gate.is_set():
            self.held.set()
        waiter = asyncio.ensure_future(self.gate.wait())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({waiter, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            closing.cancel()
        return await super()._health(request)


@pytest.fixture
async def kokoro() -> AsyncIterator[GatedKokoro]:
    async with GatedKokoro() as server:
        yield server


async def health(emulator: DiscordEmulator, member: str = "alice", **options: Any) -> dict[str, Any]:
    inter = await emulator.invoke(emulator.member(member), emulator.channel("general"), "health", **options)
    result = await inter.wait_done(timeout=20)
    assert inter.acknowledged_after is not None and inter.acknowledged_after < 3
    assert result.ephemeral
    [embed] = result.embeds
    return embed


def line_of(embed: dict[str, Any], service: str) -> str:
    lines = [line for line in embed["description"].split("\n") if f"**{service}**" in line]
    assert len(lines) == 1, embed["description"]
    return lines[0]


async def test_admin_sees_every_service_member_is_refused_owner_is_not(bot_factory, emulator, kokoro):
    carol = emulator.member("carol")
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, health_probe_timeout=5,
                            bot_owner_ids=[emulator.member("dave").id])
    await bot.services.monitor.run_once()
    embed = await health(emulator)
    for service in SERVICES:
        line_of(embed, service)
    assert "healthy" in line_of(embed, "tts:kokoro") and "stale" not in line_of(embed, "tts:kokoro")
    assert "healthy" in line_of(embed, "database") and "healthy" in line_of(embed, "discord:gateway")
    assert "disabled" in line_of(embed, "stt:whisper") and "WHISPER\\_API\\_URL is empty" in line_of(embed, "stt:whisper")
    assert "cannot connect" in embed["description"]  # Ollama and the search APIs are on a closed port
    assert {f["name"] for f in embed["fields"]} == {"Cache", "LLM usage today (UTC)", "Token quotas today (UTC)",
                                                    "Gateway", "Uptime", "Database"}
    assert next(f for f in embed["fields"] if f["name"] == "Gateway")["value"].endswith(" ms")

    inter = await emulator.invoke(carol, emulator.channel("general"), "health", force=True)
    refused = await inter.wait_done(timeout=10)
    assert refused.ephemeral and not refused.embeds and "administrators" in refused.text
    inter = await emulator.invoke(carol, emulator.channel("general"), "cache-clear", force=True)
    assert "administrators" in (await inter.wait_done(timeout=10)).text

    owner = await emulator.invoke(emulator.member("dave"), emulator.channel("general"), "health", force=True)
    assert (await owner.wait_done(timeout=10)).embeds[0]["title"] == "Bot health"


async def test_refresh_probes_now_and_keys_in_errors_are_masked(bot_factory, emulator, kokoro):
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, rvc_api_key=RVC_KEY,
                            rvc_api_url="http://127.0.0.1:9", health_probe_timeout=5)
    await bot.services.monitor.run_once()
    kokoro.script("health", Fault(status=500, json_body={
        "detail": f"proxy http://admin:hunter2pass@10.1.2.3:8880/health rejected X-Api-Key {RVC_KEY}"}))
    before = line_of(await health(emulator), "tts:kokoro")
    assert "healthy" in before

    embed = await health(emulator, refresh=True)
    line = line_of(embed, "tts:kokoro")
    assert "degraded" in line and "1 failure" in line
    assert "proxy http://***@10.1.2.3:8880/health rejected X-Api-Key" in embed["description"]
    shown = str(embed)
    assert "hunter2pass" not in shown and RVC_KEY not in shown and "plain-rvc" not in shown


async def test_state_changes_are_logged_once_and_posted_without_pings(bot_factory, emulator, kokoro, caplog):
    caplog.set_level(logging.INFO, logger="services.health.monitor")
    random_channel = emulator.channel("random")
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, health_probe_timeout=5,
                            health_alert_channel_id=random_channel.id)
    monitor = bot.services.monitor
    await monitor.run_once()

    kokoro.script("health", Fault(status=503, json_body={"detail": "loading model @everyone"}))
    await monitor.run_once()
    down = await emulator.wait_for_message(random_channel, lambda m: "tts:kokoro" in m.content, timeout=10)
    assert down.content.startswith("🟡 **tts:kokoro**: healthy → degraded — loading model")
    version = down.versions[-1]
    assert not version.mention_everyone and not version.mentions and not version.mention_roles

    await monitor.run_once()  # healthy again
    back = await emulator.wait_for_message(random_channel, lambda m: "degraded → healthy" in m.content,
                                           after=down, timeout=10)
    assert back.content.startswith("🟢 **tts:kokoro**: degraded → healthy")
    await monitor.run_once()  # no change, no message, no log line
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Service tts:kokoro")]
    assert changes == ["Service tts:kokoro: unknown -> healthy",
                       "Service tts:kokoro: healthy -> degraded (loading model @everyone)",
                       "Service tts:kokoro: degraded -> healthy"]
    kokoro_alerts = [m for m in emulator.bot_messages(random_channel) if "tts:kokoro" in m.content]
    assert len(kokoro_alerts) == 2
    history = [status for status, _ in await monitor.history.recent("tts:kokoro")]
    assert history[:4] == ["healthy", "healthy", "degraded", "healthy"]  # newest first; maybe one more round


async def test_failing_alert_channel_is_logged_not_fatal(bot_factory, emulator, kokoro, caplog):
    caplog.set_level(logging.WARNING, logger="cogs.admin")
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, health_probe_timeout=5,
                            health_alert_channel_id=999_999_999_999)
    await bot.services.monitor.run_once()
    kokoro.script("health", Fault(status=503, json_body={"detail": "down"}))
    await bot.services.monitor.run_once()
    await emulator.wait_until(
        lambda: any("Could not post a health alert" in r.getMessage() for r in caplog.records), timeout=10,
        message="a log line about the alert that could not be posted")
    assert "healthy" not in line_of(await health(emulator), "tts:kokoro")


async def test_state_from_before_a_restart_is_stale_until_probed(bot_factory, emulator, kokoro):
    first = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, health_probe_timeout=10)
    await first.services.monitor.run_once()
    await first.close()

    kokoro.gate.clear()  # the next probe of Kokoro stays in flight
    second = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url, health_probe_timeout=10)
    await asyncio.wait_for(kokoro.held.wait(), timeout=10)
    line = line_of(await health(emulator), "tts:kokoro")
    assert "healthy" in line and "**stale**" in line

    kokoro.gate.set()
    await second.services.monitor.run_once()  # joins the round in flight
    line = line_of(await health(emulator), "tts:kokoro")
    assert "healthy" in line and "stale" not in line


async def test_gateway_probe_follows_the_connection(bot_factory, emulator):
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], health_probe_timeout=1)
    monitor = bot.services.monitor
    gateway = {h.service: h for h in await monitor.run_once()}["discord:gateway"]
    assert gateway.status == "healthy" and gateway.latency_ms is not None
    async with emulator.gateway.offline():
        await emulator.wait_until(lambda: not bot.get_cog("Admin").connected, timeout=10,
                                  message="the bot noticed the disconnection")
        gateway = {h.service: h for h in await monitor.run_once()}["discord:gateway"]
        assert (gateway.status, gateway.last_error) == ("down", "not connected to the Discord gateway")
    await emulator.gateway.wait_for_resume(1)
    await emulator.wait_until(lambda: bot.get_cog("Admin").connected, timeout=10,
                              message="the bot resumed")
    gateway = {h.service: h for h in await monitor.run_once()}["discord:gateway"]
    assert gateway.status == "healthy"


async def test_cache_clear_by_an_admin(bot_factory, emulator):
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id])
    cache = bot.services.cache
    await cache.set("search:web", "a", [1], 60)
    await cache.set("search:urban", "b", [2], 60)
    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "cache-clear",
                                  namespace="search:web")
    result = await inter.wait_done(timeout=10)
    assert result.ephemeral and result.text == "Cleared namespace `search:web`: 1 entries removed."
    assert await cache.namespaces() == ["search:urban"]


async def test_an_administrator_of_another_server_is_refused(bot_factory, emulator):
    """The bot is in two servers; only the first is in ADMIN_GUILD_IDS. An administrator of the second (a
    stranger who invited the bot) sees no internal hosts, errors or usage, and cannot empty the cache."""
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id],
                            bot_owner_ids=[emulator.member("dave").id])
    other = await emulator.add_guild("Stranger's server")
    eve = await emulator.add_member("eve", roles=[emulator.role("Admin", guild=other)], guild=other)
    general = emulator.channel("general", guild=other)
    await bot.services.cache.set("search:web", "a", [1], 60)
    for command in ("health", "cache-clear"):
        result = await (await emulator.invoke(eve, general, command)).wait_done(timeout=10)  # not hidden from her
        assert result.ephemeral and not result.embeds and "Only the bot's owners" in result.text, result.text
    assert await bot.services.cache.namespaces() == ["search:web"]
    # alice administers both servers: allowed only in the listed one; the bot's owner, everywhere.
    refused = await (await emulator.invoke(emulator.member("alice", guild=other), general, "health")).wait_done(timeout=10)
    assert not refused.embeds
    assert (await health(emulator))["title"] == "Bot health"
    owner = await (await emulator.invoke(emulator.member("dave", guild=other), general, "health", force=True)).wait_done(
        timeout=10)
    assert owner.embeds[0]["title"] == "Bot health"


async def test_refresh_has_a_cooldown(bot_factory, emulator, kokoro):
    bot = await bot_factory(extensions=["cogs.admin"], admin_guild_ids=[emulator.guild.id], kokoro_api_url=kokoro.url,
                            health_refresh_cooldown=60, health_probe_timeout=5)
    await health(emulator, refresh=True)
    probes = kokoro.count("health")
    assert probes >= 1
    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "health", refresh=True)
    result = await inter.wait_done(timeout=10)
    assert "next refresh possible in" in result.text and result.embeds, result.text
    assert kokoro.count("health") == probes, "a second refresh within the cooldown probed again"
    assert bot.get_cog("Admin")._refresh_wait() > 50
