"""`python -m devtools.discord_emulator` runs on its own, prints how to point a bot at it, stops on SIGTERM;
its console turns typed lines into members' messages and commands and prints the bot's answers."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from typing import Any

import aiohttp
import pytest

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.console import handle_line, show_answers
from devtools.discord_emulator.process import REPO


async def test_standalone_emulator_prints_its_settings_and_serves() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.discord_emulator", "--port", "0", "--shards", "2", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        guilds: list[str] = []
        while len(guilds) < 2:
            line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
            assert line, "the emulator exited before printing its settings and guilds"
            if match := re.match(r"^(DISCORD_[A-Z_]+)=(.*)$", line.strip()):
                lines[match.group(1)] = match.group(2)
            if line.startswith("Guild "):
                guilds.append(line)
        assert "on shard 0 of 2" in guilds[0] and "on shard 1 of 2" in guilds[1]
        assert lines["DISCORD_GATEWAY_URL"].startswith("ws://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bot {lines['DISCORD_TOKEN']}"}
            async with session.get(lines["DISCORD_API_BASE_URL"] + "/users/@me", headers=headers) as response:
                assert response.status == 200 and (await response.json())["bot"] is True
            async with session.get(lines["DISCORD_API_BASE_URL"] + "/gateway/bot", headers=headers) as response:
                assert (await response.json())["shards"] == 2
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_console_ends_with_its_input() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.discord_emulator", "--console", cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(b"alice #general hello\nnobody #general hi\n"), 20)
        assert process.returncode == 0, output.decode()
        assert "! guild 'Emulator Guild' has no member 'nobody'" in output.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_console_lines_reach_the_bot_and_its_answers_are_shown(bot_factory: Any, emulator: DiscordEmulator,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    await bot_factory(admin_guild_ids=[emulator.guild.id])  # alice administers the server the bot is run from
    printed: list[str] = []
    printer = asyncio.create_task(show_answers(emulator))
    try:
        await handle_line(emulator, "alice #general /cache-clear namespace=llm")
        await emulator.wait_until(lambda: printed.append(capsys.readouterr().out) or "Cleared" in "".join(printed),
                                  message="the answer printed")
        assert "#general EmuBot (only you can see this): Cleared namespace `llm`" in "".join(printed)
        await handle_line(emulator, "carol dm hello @bot")
        assert emulator.messages(emulator.dm_channel(emulator.member("carol")))[0].content.endswith("hello")
    finally:
        printer.cancel()
