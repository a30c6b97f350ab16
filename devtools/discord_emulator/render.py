"""The bot's messages as a terminal shows them: text with mentions and timestamps made readable, embeds
with their fields, buttons; and a live view that rewrites a streamed answer in place on a terminal.

On a tty each edit of the message at the bottom redraws it (cursor up, clear, print again); an edit of an
older message is printed anew, marked "edited". Elsewhere (a pipe, a file, a test) a message is printed
once it has stopped changing for `settle` seconds, so the output holds final texts, not every stage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import textwrap
from collections.abc import Callable
from typing import Any, TextIO

from devtools.discord_emulator.emulator import DiscordEmulator
from devtools.discord_emulator.records import MessageRecord

BAR = "  ┃ "
_MENTION = re.compile(r"<(@!?|@&|#)(\d+)>")
_ESCAPED = re.compile(r"\\([*_~`|>\\])")
_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
UP_AND_CLEAR = "\x1b[{rows}F\x1b[J"  # cursor to the start of the line `rows` up, clear to the end of screen
CLEAR_LINE = "\r\x1b[K"


def readable_time(seconds: int, style: str | None, now: float) -> str:
    """A Discord timestamp as UTC text; relative styles say how far away it is too."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    text = moment.strftime("%a %Y-%m-%d %H:%M UTC")
    if style == "R":
        delta = seconds - now
        amount, unit = abs(delta), "seconds"
        for size, name in ((86400, "days"), (3600, "hours"), (60, "minutes")):
            if abs(delta) >= size:
                amount, unit = abs(delta) / size, name
                break
        span = f"{amount:.0f} {unit if round(amount) != 1 else unit[:-1]}"
        return f"in {span}" if delta >= 0 else f"{span} ago"
    return text


def plain(emu: DiscordEmulator, text: str, now: float | None = None) -> str:
    """Mentions as @name / #name, timestamps as readable times (everyone's client shows them so)."""
    now = emu.clock.time() if now is None else now

    def mention(match: re.Match[str]) -> str:
        kind, ident = match.group(1), int(match.group(2))
        if kind == "#":
            found = emu.world.find_channel(ident)
            return f"#{found[1].name}" if found and found[1].name else "#unknown"
        if kind == "@&":
            role = next((r for g in emu.world.guilds.values() for r in g.roles.values() if r.id == ident), None)
            return f"@{role.name}" if role else "@unknown-role"
        user = emu.world.users.get(ident)
        return f"@{user.username}" if user else "@unknown"

    text = _MENTION.sub(mention, text)
    text = _ESCAPED.sub(r"\1", text)  # Discord shows \_ as _
    return _TIMESTAMP.sub(lambda m: readable_time(int(m.group(1)), m.group(2), now), text)


def place_of(emu: DiscordEmulator, message: MessageRecord) -> str:
    found = emu.world.find_channel(message.channel_id)
    return f"#{found[1].name}" if found and found[1].name else "dm"


def embed_lines(emu: DiscordEmulator, embed: dict[str, Any]) -> list[str]:
    """Every part of an embed a reader sees, fields included, one bar-prefixed line each."""
    lines: list[str] = []

    def add(text: str, indent: str = "") -> None:
        lines.extend(BAR + indent + line for line in plain(emu, text).splitlines() or [""])

    if (embed.get("author") or {}).get("name"):
        add(embed["author"]["name"])
    if embed.get("title"):
        add(f"**{embed['title']}**" + (f"  <{embed['url']}>" if embed.get("url") else ""))
    if embed.get("description"):
        add(embed["description"])
    for embed_field in embed.get("fields") or []:
        value = embed_field.get("value", "")
        if "\n" in value:
            add(f"{embed_field.get('name', '')}:")
            add(value, "  ")
        else:
            add(f"{embed_field.get('name', '')}: {value}")
    footer = (embed.get("footer") or {}).get("text")
    if footer:
        add(f"— {footer}")
    for picture in ("thumbnail", "image"):
        if (embed.get(picture) or {}).get("url"):
            add(f"[{picture}: {embed[picture]['url']}]")
    return lines


def component_lines(components: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in components:
        labels = []
        for item in row.get("components") or []:
            label = item.get("label") or item.get("placeholder") or item.get("custom_id") or "?"
            labels.append(f"[{label}]" + (" (disabled)" if item.get("disabled") else ""))
        if labels:
            lines.append("  " + " ".join(labels))
    return lines


def message_lines(emu: DiscordEmulator, message: MessageRecord, *, edited: bool = False) -> list[str]:
    """`#general EmuBot (tags): text`, then embeds, buttons and attachments."""
    tags = [tag for tag, on in (("edited", edited), ("only you can see this", message.ephemeral),
                                ("thinking…", message.loading), ("deleted", message.deleted)) if on]
    header = f"{place_of(emu, message)} {emu.bot_user.username}" + (f" ({', '.join(tags)})" if tags else "") + ":"
    text = plain(emu, message.content).splitlines()
    lines = [f"{header} {text[0]}" if text else header] + [f"  {line}" for line in text[1:]]
    for embed in message.embeds:
        lines += embed_lines(emu, embed)
    lines += component_lines(message.components)
    lines += [f"  [file: {a.filename}, {len(a.data)} bytes]" for a in message.attachments]
    return lines


def wrap(lines: list[str], width: int) -> list[str]:
    """Hard-wrap to the terminal width so one printed line is one screen row (the in-place redraw counts rows)."""
    wrapped: list[str] = []
    for line in lines:
        indent = BAR if line.startswith(BAR) else "  " if line.startswith("  ") else ""
        wrapped += textwrap.wrap(line, width, subsequent_indent=indent, drop_whitespace=False,
                                 replace_whitespace=False) or [""]
    return wrapped


class LiveRenderer:
    """Shows each new or changed message of the bot on `out` (see the module docstring)."""

    def __init__(self, emu: DiscordEmulator, out: TextIO, *, tty: bool, settle: float = 1.0,
                 width: int | None = None) -> None:
        self.emu = emu
        self.out = out
        self.tty = tty
        self.settle = settle
        self.width = width
        self._shown: dict[int, int] = {}  # message id -> versions shown
        self._changed_at: dict[int, tuple[int, float]] = {}  # message id -> (versions, when first seen so)
        self._bottom: tuple[int, int] | None = None  # (message id, rows) of the block at the bottom of the screen
        self.prompt: Callable[[], str] | None = None  # an input prompt to keep below the answers (tty only)

    def something_else_printed(self) -> None:
        """Another line went to the screen (an echoed input line, a notice): the bottom block is no longer ours."""
        self._bottom = None

    def pending(self) -> bool:
        """A message changed since it was last shown (for waiting until every answer is printed)."""
        return any(self._shown.get(m.id) != len(m.versions) for m in self._bot_messages())

    def _bot_messages(self) -> list[MessageRecord]:
        return [m for m in list(self.emu.records.messages.values()) if m.author_id == self.emu.bot_user.id]

    def refresh(self) -> None:
        """Print what changed; called after every emulator event and every few tenths of a second."""
        now = asyncio.get_running_loop().time()
        for message in self._bot_messages():
            if self._shown.get(message.id) == len(message.versions):
                continue
            if self.tty:
                self._draw(message)
                continue
            versions, since = self._changed_at.get(message.id, (-1, now))
            if versions != len(message.versions):  # changed again: wait for it to settle from now
                self._changed_at[message.id] = (len(message.versions), now)
            elif now - since >= self.settle and not message.loading:
                self._draw(message)

    def _draw(self, message: MessageRecord) -> None:
        edited = message.id in self._shown
        lines = message_lines(self.emu, message, edited=edited and not self._is_bottom(message))
        if self.tty:
            width = self.width or shutil.get_terminal_size().columns
            lines = wrap(lines, max(width - 1, 20))
            if self.prompt is not None:
                self.out.write(CLEAR_LINE)  # the prompt goes below the answer, drawn again after it
            if self._is_bottom(message):
                assert self._bottom is not None
                self.out.write(UP_AND_CLEAR.format(rows=self._bottom[1]))
        self.out.write("\n".join(lines) + "\n")
        if self.tty and self.prompt is not None:
            self.out.write(self.prompt())
        self.out.flush()
        self._bottom = (message.id, len(lines))
        self._shown[message.id] = len(message.versions)
        self._changed_at.pop(message.id, None)

    def _is_bottom(self, message: MessageRecord) -> bool:
        return self.tty and self._bottom is not None and self._bottom[0] == message.id

    async def run(self) -> None:
        """Refresh at every emulator event, and at least every 0.1 s (settling needs the time to pass)."""
        while True:
            self.refresh()
            await self.emu.notifier.next_change(0.1)

    async def drain(self, quiet: float, timeout: float) -> None:
        """Until nothing changed for `quiet` seconds and everything is shown (end of piped input)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = (-1, -1)
        quiet_since = loop.time()
        while loop.time() < deadline:
            self.refresh()
            state = (len(self.emu.records.messages), sum(len(m.versions) for m in self._bot_messages()))
            if state != last:
                last, quiet_since = state, loop.time()
            elif not self.pending() and loop.time() - quiet_since >= quiet:
                return
            await asyncio.sleep(0.05)
