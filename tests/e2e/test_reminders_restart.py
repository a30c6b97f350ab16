"""A reminder survives a crash: set it, SIGKILL the bot process, let it come due, restart;
it arrives exactly once, saying it is late."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from devtools.discord_emulator import DiscordEmulator
from tests.e2e.test_reminders import due_epoch, reminder_id


async def test_reminder_due_while_killed_arrives_once_after_restart(bot_process: Any, emulator: DiscordEmulator,
                                                                   tmp_path: Path) -> None:
    # The late note normally starts at a minute; a second keeps the test short.
    settings = {"reminder_late_note_after": 1}
    alice, general = emulator.member("alice"), emulator.channel("general")
    first = await bot_process(**settings)
    await first.wait_ready()
    inter = await emulator.invoke(alice, general, "remind", when="in 3s", what="the kettle")
    confirmation = (await inter.wait_done(timeout=10)).text
    rid, due = reminder_id(confirmation), due_epoch(confirmation)
    first.kill()
    assert await first.wait() == -9
    assert not _deliveries(emulator, "the kettle"), "the killed process delivered before it died"

    # Wait (on the emulator's wall clock, which is the bot's) until it is overdue, then restart.
    await emulator.wait_until(lambda: time.time() > due + 1.5, timeout=10, message="the reminder to come due")
    second = await bot_process(**settings)
    await second.wait_ready()
    delivered = await emulator.wait_for_message(general, lambda m: "the kettle" in m.content
                                                and f"reminder #{rid}" in m.content, timeout=15)
    assert "late: the bot was offline" in delivered.content
    assert delivered.versions[-1].mentions == [alice.id]

    # A clean stop lets the scheduler record the delivery; nothing else was sent meanwhile.
    second.terminate()
    assert await second.wait(timeout=15) == 0
    assert len(_deliveries(emulator, "the kettle")) == 1
    with sqlite3.connect(tmp_path / "bot.db") as db:
        state, deliveries = db.execute("SELECT state, deliveries FROM reminders WHERE id = ?", (rid,)).fetchone()
    assert (state, deliveries) == ("delivered", 1)


def _deliveries(emulator: DiscordEmulator, text: str) -> list[Any]:
    """Bot messages that are the reminder itself (not the /remind confirmation)."""
    return [m for m in emulator.bot_messages(emulator.channel("general"))
            if text in m.content and m.content.startswith("⏰ <@")]
