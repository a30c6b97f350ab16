"""A line console for the standalone emulator: speak as a member, run slash commands, see the bot's answers.

    alice #general hello there          a message (add @bot to mention the bot)
    carol dm how are you?               a DM to the bot
    alice #general /cache-clear namespace=llm
    alice #general /remind set when=5m text="tea time"
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from typing import Any

from devtools.discord_emulator.emulator import DiscordEmulator
from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.world import Channel, Member


def _value(emu: DiscordEmulator, raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lstrip("-").isdigit():
        return int(raw)
    if raw.startswith("@"):
        return emu.member(raw[1:])
    if raw.startswith("#"):
        return emu.channel(raw[1:])
    return raw


async def handle_line(emu: DiscordEmulator, line: str) -> None:
    who, where, *rest = line.split(maxsplit=2)
    member: Member = emu.member(who)
    channel: Channel = emu.dm_channel(member) if where == "dm" else emu.channel(where.lstrip("#"))
    text = rest[0] if rest else ""
    if not text.startswith("/"):
        mention = "@bot" in text
        await emu.send_message(member, channel, text.replace("@bot", "").strip(), mentions_bot=mention)
        return
    words = shlex.split(text[1:])
    path = [w for w in words if "=" not in w]
    options = {k: _value(emu, v) for k, _, v in (w.partition("=") for w in words if "=" in w)}
    await emu.invoke(member, channel, " ".join(path), options=options)


async def show_answers(emu: DiscordEmulator) -> None:
    """Print every new or edited message of the bot as it happens."""
    shown: dict[int, int] = {}
    while True:
        await emu.wait_until(lambda: any(shown.get(m.id) != len(m.versions) for m in emu.records.messages.values()
                                         if m.author_id == emu.bot_user.id), timeout=3600)
        for m in list(emu.records.messages.values()):
            if m.author_id != emu.bot_user.id or shown.get(m.id) == len(m.versions):
                continue
            found = emu.world.find_channel(m.channel_id)
            place = f"#{found[1].name}" if found and found[1].name else "dm"
            tags = [t for t, on in (("edited", m.id in shown), ("ephemeral", m.ephemeral), ("thinking", m.loading))
                    if on]
            embeds = " ".join(f"[embed: {e.get('title') or ''}]" for e in m.embeds)
            print(f"{place} {emu.bot_user.username}{' (' + ', '.join(tags) + ')' if tags else ''}: "
                  f"{m.content} {embeds}".rstrip(), flush=True)
            shown[m.id] = len(m.versions)


async def run_console(emu: DiscordEmulator) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    printer = asyncio.create_task(show_answers(emu))
    print(__doc__, flush=True)
    try:
        while line := (await reader.readline()).decode():
            if line.strip():
                try:
                    await handle_line(emu, line.strip())
                except (EmulatorError, ValueError) as exc:
                    print(f"! {exc}", flush=True)
    finally:
        printer.cancel()
