"""`python main.py` as a real process against the emulator: it starts, answers, and shuts down
cleanly on SIGTERM; SIGKILL leaves it no say. (The helper later serves restart tests.)"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.process import REPO


async def test_main_starts_answers_and_stops_cleanly_on_sigterm(bot_process: Any, emulator: DiscordEmulator) -> None:
    process = await bot_process(admin_guild_ids=[emulator.guild.id])
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


async def test_container_health_check_follows_the_running_bot(bot_process: Any, tmp_path: Path) -> None:
    """Docker's HEALTHCHECK command: healthy once the running process has checked its gateway connection."""
    process = await bot_process(health_check_interval=5)
    await process.wait_ready()
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "DATABASE_PATH": str(tmp_path / "bot.db"),
           "HEALTH_CHECK_INTERVAL": "5"}

    async def health() -> tuple[int, str]:
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "config", "--health", "--env-file", os.devnull, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await check.communicate()
        return check.returncode or 0, out.decode().strip()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    code, line = await health()
    while code != 0 and loop.time() < deadline:  # the first probe may run before the gateway is up
        await asyncio.sleep(1)
        code, line = await health()
    assert (code, line.split(",")[0]) == (0, "healthy: Discord gateway healthy"), process.output
    # A stopped or stuck bot stops refreshing the row: tests/config/test_healthcheck.py covers staleness.


async def test_a_second_process_on_the_same_sqlite_file_refuses_to_start(bot_process: Any,
                                                                         emulator: DiscordEmulator) -> None:
    """Two processes on one SQLite file would both deliver every reminder and both answer every mention."""
    first = await bot_process()
    await first.wait_ready()
    second = await bot_process()
    assert await second.wait() == 1
    said = [line for line in second.output.splitlines() if "in use by another bot process" in line]
    assert len(said) == 1 and f"(pid {first.process.pid})" in said[0] and "DATABASE_URL" in said[0], second.output
    assert "Traceback" not in second.output
    assert emulator.gateway.identifies == 1, "the refused process must not connect to Discord"
    first.kill()  # the kernel releases the lock with the process, however it ends
    await first.wait()
    third = await bot_process()
    await third.wait_ready()
