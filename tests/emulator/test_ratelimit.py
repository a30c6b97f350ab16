"""429s the test asks for are served with Discord's headers and body, and discord.py's own rate-limit
handling waits them out: the request succeeds after retry_after and the 429 really happened."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from tests.emulator.conftest import ClientFactory


async def test_a_rate_limited_send_is_retried_after_retry_after(emulator: DiscordEmulator,
                                                                client_factory: ClientFactory) -> None:
    channel = (await client_factory()).get_channel(emulator.channel("general").id)
    rule = emulator.rate_limit("POST /channels/{channel_id}/messages", times=1, retry_after=0.3)
    await channel.send("patience")
    assert rule.served == 1
    limited = emulator.records.rate_limited
    assert [(r.method, r.route, r.status) for r in limited] == [("POST", "/channels/{channel_id}/messages", 429)]
    accepted = [r for r in emulator.records.requests_to("POST", "/channels/{channel_id}/messages") if r.status == 200]
    assert len(accepted) == 1 and accepted[0].at - limited[0].at >= 0.29  # discord.py slept retry_after
    assert emulator.messages(emulator.channel("general"))[0].content == "patience"


async def test_the_429_carries_discords_headers_and_body(emulator: DiscordEmulator, raw: Any) -> None:
    emulator.rate_limit("/users/@me", retry_after=1.5)
    status, body, response = await raw("GET", "/users/@me")
    assert status == 429
    assert body == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    headers = response.headers
    assert headers["Retry-After"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset-After"] == "1.500" and headers["X-RateLimit-Scope"] == "user"
    assert headers["Via"] and headers["Content-Type"] == "application/json"
    status, _, _ = await raw("GET", "/users/@me")
    assert status == 200


async def test_a_global_limit_and_a_limited_webhook_are_waited_out(emulator: DiscordEmulator,
                                                                   client_factory: ClientFactory) -> None:
    client = await client_factory()
    emulator.rate_limit("PATCH /channels/*/messages/*", times=2, retry_after=0.1, is_global=True)
    message = await client.get_channel(emulator.channel("general").id).send("v1")
    edited = await message.edit(content="v2")
    assert edited.content == "v2" and len(emulator.records.rate_limited) == 2
    webhook = discord.Webhook.partial(emulator.world.application.id, "no-such-token", client=client)
    emulator.rate_limit("POST /webhooks/*", retry_after=0.1)
    with pytest.raises(discord.NotFound) as caught:  # retried after the 429, then the unknown token shows
        await webhook.send("x", wait=True)
    assert caught.value.code == 10015
    assert len(emulator.records.rate_limited) == 3
