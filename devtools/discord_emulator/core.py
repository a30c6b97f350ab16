"""The parts of the emulator the REST routes share, in one object stored on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.commands import CommandStore
from devtools.discord_emulator.gateway import Gateway
from devtools.discord_emulator.holds import Holds
from devtools.discord_emulator.interactions import InteractionDesk
from devtools.discord_emulator.messaging import Messenger
from devtools.discord_emulator.ratelimit import RateLimiter
from devtools.discord_emulator.records import Attachment, Records
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import World

API_PREFIX = "/api/v10"


@dataclass(eq=False)
class Core:
    world: World
    token: str
    clock: Clock
    records: Records
    notifier: Notifier
    gateway: Gateway
    messenger: Messenger
    desk: InteractionDesk
    commands: CommandStore
    rate_limits: RateLimiter
    base_url: str = ""
    holds: Holds = field(default_factory=Holds)  # answers a test holds back (emu.hold_responses)
    uploads: dict[int, Attachment] = field(default_factory=dict)  # attachments given to interactions by tests

    def attachment(self, attachment_id: int) -> Attachment | None:
        if attachment_id in self.uploads:
            return self.uploads[attachment_id]
        for message in self.records.messages.values():
            for version in message.versions:
                for a in version.attachments:
                    if a.id == attachment_id:
                        return a
        return None


CORE = web.AppKey("core", Core)
