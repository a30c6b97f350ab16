"""`python main.py` as a real process against the emulator: it starts, answers, and shuts down
cleanly on SIGTERM; SIGKILL leaves it no say. (The helper later serves restart tests.)"""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator import DiscordEmulator


async def test_main_starts_answers_and_stops_cleanly_on_sigterm(bot_process: Any, emulator: DiscordEmulator) -> None:
    process = await bot_process()
    session = await process.wait_ready()
    assert emulator.records.command_syncs, "the process synced no commands"
    await process.wait_for_output(r"Synced \d+ slash commands")
    inter = await emulator.invoke(emulator.member("alice"), emulator.channel("general"), "health")
    assert (await inter.wait_done(timeout=15)).embeds
    process.terminate()
    assert await process.wait(timeout=5) == 0
    assert "Shut down cleanly" in process.output
    # The gateway connection is closed (discord.py 2.7.1 with aiohttp 3.14 closes it with 4000 rather
    # than 1000 when a reader is waiting, so the session stays resumable, as it would on Discord).
    assert session.ws is None, "the gateway connection outlived the process"


async def test_a_killed_process_ends_without_cleanup(bot_process: Any, emulator: DiscordEmulator) -> None:
    process = await bot_process()
    await process.wait_ready()
    process.kill()
    assert await process.wait() == -9
    assert "Shut down cleanly" not in process.output
    await emulator.wait_until(lambda: not emulator.gateway.connected, message="the dead process's socket to close")
    assert emulator.gateway.sessions[-1].resumable, "a crash leaves the session resumable, as on Discord"


async def test_a_bad_token_is_reported_and_exits(bot_process: Any) -> None:
    process = await bot_process(discord_token="not-the-emulator-token")
    assert await process.wait() == 1
    assert "Discord rejected DISCORD_TOKEN" in process.output
