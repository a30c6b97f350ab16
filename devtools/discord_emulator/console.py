"""A terminal chat on the emulator: type as a member, see the bot's answers (render.py draws them).

A line is a message or a slash command, said by the current member in the current channel:

    hello there                         a message (answered in a chat channel, or with @bot anywhere)
    /wiki Python                        a slash command; the first option needs no name
    /remind when:in 10 minutes what:tea options as name:value (name=value works too)
    #random hello @bot                  say it in another channel; `dm hi` says it to the bot in private
    bob #general hi                     as another member, for this line only

and `as NAME`, `in #CHANNEL` (or `in dm`), `members`, `channels`, `help`, `quit` change who and where you
are or show the room. `@name` and `#name` as option values are members and channels.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from devtools.discord_emulator import commands as cmd
from devtools.discord_emulator.emulator import DiscordEmulator
from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.render import LiveRenderer
from devtools.discord_emulator.world import Channel, Member

QUIT = ("quit", "exit")


@dataclass(frozen=True)
class Example:
    line: str
    what: str


class Console:
    """Parses typed lines and acts on the emulator; `help_examples` are what `help` lists."""

    def __init__(self, emu: DiscordEmulator, out: TextIO, *, member: str = "alice", channel: str = "general",
                 examples: Sequence[Example] = (), notes: str = "") -> None:
        self.emu = emu
        self.out = out
        self.member: Member = emu.member(member)
        self.channel: Channel = emu.channel(channel)
        self.examples = list(examples)
        self.notes = notes
        self.renderer: LiveRenderer | None = None

    # --- what the person sees --------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()
        if self.renderer is not None:
            self.renderer.something_else_printed()

    @property
    def where(self) -> str:
        return f"#{self.channel.name}" if self.channel.name else "dm"

    def prompt(self) -> str:
        return f"{self.member.user.username} in {self.where}> "

    def help_text(self) -> str:
        width = max((len(e.line) for e in self.examples), default=0) + 2
        lines = [f"You are {self.member.user.username} in {self.where} of {self.emu.guild.name}. "
                 "Type a message or a slash command, for example:", ""]
        lines += [f"  {e.line:<{width}}{e.what}" for e in self.examples]
        lines += ["", "  as NAME            speak as another member      in #CHANNEL / in dm   talk somewhere else",
                  "  members            who is here                  channels              where you can talk",
                  "  help               this text                    quit                  leave (or Ctrl-D)"]
        if self.notes:
            lines += ["", self.notes]
        return "\n".join(lines)

    def members_text(self) -> str:
        guild = self.emu.guild
        rows = []
        for member in guild.members.values():
            roles = [guild.roles[r].name for r in member.role_ids if r in guild.roles and not guild.roles[r].managed]
            notes = [*(["owner"] if member.user.id == guild.owner_id else []), *roles,
                     *(["bot"] if member.user.bot else []), *(["you"] if member is self.member else [])]
            rows.append(f"  {member.user.username:<10} {', '.join(notes)}")
        return f"Members of {guild.name}:\n" + "\n".join(rows)

    def channels_text(self) -> str:
        names = [f"#{c.name}" + (" (NSFW)" if c.nsfw else "") for c in self.emu.guild.channels.values()
                 if c.type in (0, 5, 11, 12)]
        return "Channels: " + ", ".join(names) + ", and dm (a direct message to the bot)"

    # --- what the person types -------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one line; False when the person wants to leave. Mistakes are printed, never raised."""
        line = line.strip()
        if not line:
            return True
        try:
            return await self._handle(line)
        except (EmulatorError, ValueError, KeyError) as exc:
            self.say(f"! {exc.args[0] if exc.args else exc}")
            return True

    async def _handle(self, line: str) -> bool:
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in QUIT and not rest:
            return False
        if word in ("help", "?") and not rest:
            self.say(self.help_text())
        elif word == "members" and not rest:
            self.say(self.members_text())
        elif word == "channels" and not rest:
            self.say(self.channels_text())
        elif word == "as" and rest and " " not in rest:
            self.member = self.emu.member(rest.lstrip("@"))
            self.say(f"You are now {self.member.user.username}.")
        elif word == "in" and rest and " " not in rest:
            self.channel = self._place(rest)
            self.say(f"You are now in {self.where}.")
        else:
            member, channel, text = self._speaker(line)
            await self.send(member, channel, text)
        return True

    def _place(self, name: str) -> Channel:
        return self.emu.dm_channel(self.member) if name == "dm" else self.emu.channel(name.lstrip("#"))

    def _speaker(self, line: str) -> tuple[Member, Channel, str]:
        """`[member] [#channel|dm] text`: a first word is a member's name only when a place follows it."""
        member, channel = self.member, self.channel
        words = line.split(maxsplit=2)
        if len(words) >= 2 and not words[0].startswith(("/", "#", "@")) and words[0] != "dm" and (
                words[1] == "dm" or (words[1].startswith("#") and len(words[1]) > 1)):
            member = self.emu.member(words[0])
            words = words[1:]
            line = " ".join(words)
        first, _, text = line.partition(" ")
        if (first.startswith("#") and len(first) > 1) or first == "dm":
            return member, (self.emu.dm_channel(member) if first == "dm" else self.emu.channel(first[1:])), text
        return member, channel, line

    async def send(self, member: Member, channel: Channel, text: str) -> None:
        if not text.startswith("/"):
            mention = bool(re.search(r"(^|\s)@bot\b", text))
            text = re.sub(r"(^|\s)@bot\b", " ", text).strip() if mention else text
            await self.emu.send_message(member, channel, self._mentions(text), mentions_bot=mention)
            return
        name, path, options = self.parse_command(channel, text[1:])
        await self.emu.invoke(member, channel, " ".join([name, *path]), options=options)

    def _mentions(self, text: str) -> str:
        """@alice -> <@id>, as the Discord client turns a picked member into a mention."""
        members = {m.user.username: m for m in self.emu.guild.members.values()}
        return re.sub(r"(?<!\S)@(\w+)", lambda m: members[m.group(1)].user.mention if m.group(1) in members
                      else m.group(0), text)

    def parse_command(self, channel: Channel, text: str) -> tuple[str, list[str], dict[str, Any]]:
        """`wiki Python`, `remind when:in 2h what:tea`, `cache-clear namespace=llm` -> name, path, options."""
        name, _, rest = text.strip().partition(" ")
        definition = self.emu.core.commands.find(name, channel.guild_id)
        if definition is None:
            raise EmulatorError(f"no command /{name}; the bot has: "
                                + ", ".join(f"/{n}" for n in self.emu.command_names()))
        path: list[str] = []
        options = definition.get("options") or []
        while options and options[0]["type"] in (cmd.SUB_COMMAND, cmd.SUB_COMMAND_GROUP):
            sub, _, rest = rest.strip().partition(" ")
            match = next((o for o in options if o["name"] == sub), None)
            if match is None:
                raise EmulatorError(f"/{name} needs one of: {', '.join(o['name'] for o in options)}")
            path.append(sub)
            options = match.get("options") or []
        by_name = {o["name"]: o for o in options}
        values = self._split_options(rest.strip(), by_name)
        return name, path, {key: self._value(by_name[key], raw) for key, raw in values.items()}

    @staticmethod
    def _split_options(text: str, by_name: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Text before the first `name:` fills the first required option not named; each value runs to the
        next known `name:` (so values may hold spaces and colons, as in Discord's own command box)."""
        if not by_name:
            if text:
                raise EmulatorError("this command takes no options")
            return {}
        names = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
        marks = list(re.finditer(rf"(?:^|\s)({names})[:=]", text))
        values: dict[str, str] = {}
        head = text[:marks[0].start()] if marks else text
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            values[mark.group(1)] = text[mark.end():end].strip()
        if head.strip():
            unnamed = [o["name"] for o in by_name.values() if o["name"] not in values]
            required = [n for n in unnamed if by_name[n].get("required")] or unnamed
            if not required:
                raise EmulatorError(f"say which option {head.strip()!r} is for: {', '.join(by_name)}")
            values[required[0]] = head.strip()
        return {k: v.strip('"') if len(v) > 1 and v[0] == v[-1] == '"' else v for k, v in values.items()}

    def _value(self, option: dict[str, Any], raw: str) -> Any:
        kind = option["type"]
        if kind == cmd.BOOLEAN:
            if raw.lower() not in ("true", "false", "yes", "no"):
                raise EmulatorError(f"{option['name']} is true or false, not {raw!r}")
            return raw.lower() in ("true", "yes")
        if kind == cmd.INTEGER:
            return int(raw)
        if kind == cmd.NUMBER:
            return float(raw)
        if kind in (cmd.USER_OPT, cmd.MENTIONABLE) and raw.startswith("@"):
            return self.emu.member(raw[1:])
        if kind == cmd.CHANNEL:
            return self.emu.channel(raw.lstrip("#"))
        if kind == cmd.ROLE:
            return self.emu.role(raw.lstrip("@"))
        return raw


async def read_lines(stream: TextIO = sys.stdin) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
    return reader


async def run_console(emu: DiscordEmulator, console: Console | None = None, *, tty: bool | None = None,
                      quiet_at_end: float = 2.0) -> None:
    """Read lines from stdin until `quit` or its end; answers print as they come (see render.py)."""
    console = console or Console(emu, sys.stdout, examples=STANDALONE_EXAMPLES)
    if console.renderer is None:
        console.renderer = LiveRenderer(emu, console.out, tty=sys.stdout.isatty() if tty is None else tty)
        printer = asyncio.create_task(console.renderer.run())
    else:  # its owner runs it
        printer = asyncio.create_task(asyncio.sleep(0))
    reader = await read_lines()
    console.say(console.help_text())
    interactive = sys.stdin.isatty()
    if interactive:
        console.renderer.prompt = console.prompt
    try:
        while True:
            if interactive:
                console.out.write(console.prompt())
                console.out.flush()
            line = (await reader.readline()).decode()
            if not line:
                break
            console.renderer.something_else_printed()
            if not await console.handle(line):
                break
        printer.cancel()
        await console.renderer.drain(quiet=quiet_at_end, timeout=60)  # piped input: let the answers arrive
    finally:
        printer.cancel()


STANDALONE_EXAMPLES = [
    Example("alice #general hello @bot", "a message that mentions the bot"),
    Example("carol dm how are you?", "a DM to the bot"),
    Example("/cache-clear namespace:llm", "a slash command with an option"),
]


# --- the standalone emulator's and the tests' short forms -------------------------------------------

async def handle_line(emu: DiscordEmulator, line: str) -> None:
    """One line as `member #channel text` (or `member dm text`), e.g. from a test."""
    console = Console(emu, sys.stdout)
    member, _, rest = line.partition(" ")
    console.member = emu.member(member)
    _, channel, text = console._speaker(rest)
    await console.send(console.member, channel, text)


async def show_answers(emu: DiscordEmulator, out: TextIO | None = None) -> None:
    """Print every answer of the bot once it stopped changing, until cancelled."""
    await LiveRenderer(emu, out or sys.stdout, tty=False, settle=0.3).run()
