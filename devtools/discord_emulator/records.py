"""What the bot did, as tests assert on it: messages with every version, typing, reactions, syncs, requests.

Times are the emulator clock's monotonic seconds (`emu.clock.monotonic()`), so differences between
records are real durations (edit intervals, time to first answer...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass(frozen=True)
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None
    duration_secs: float | None = None  # a voice message's length (with its waveform in the payload)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True)
class MessageVersion:
    """The message as it looked after its creation or one edit."""

    at: float
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    flags: int
    attachments: list[Attachment]
    allowed_mentions: dict[str, Any] | None  # as sent with this version; None = not sent (Discord's defaults)
    mentions: list[int]  # user ids that were really pinged
    mention_roles: list[int]
    mention_everyone: bool


@dataclass(eq=False)
class MessageRecord:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    created_at: float
    timestamp: str  # ISO time as in the payload
    versions: list[MessageVersion]
    type: int = 0
    reference: dict[str, Any] | None = None
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    webhook_id: int | None = None
    nonce: str | int | None = None
    tts: bool = False
    edited_timestamp: str | None = None
    deleted_at: float | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)  # emoji -> user ids, in order

    @property
    def latest(self) -> MessageVersion:
        return self.versions[-1]

    @property
    def content(self) -> str:
        return self.latest.content

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.latest.embeds

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.latest.components

    @property
    def attachments(self) -> list[Attachment]:
        return self.latest.attachments

    @property
    def flags(self) -> int:
        return self.latest.flags

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def edits(self) -> int:
        return len(self.versions) - 1

    @property
    def contents(self) -> list[str]:
        """The content of every version, oldest first (a streamed answer's growth)."""
        return [v.content for v in self.versions]

    @property
    def edit_times(self) -> list[float]:
        return [v.at for v in self.versions]

    def __repr__(self) -> str:
        return (f"<MessageRecord id={self.id} channel={self.channel_id} author={self.author_id} "
                f"edits={self.edits} content={self.content[:60]!r}{' deleted' if self.deleted else ''}>")


@dataclass(frozen=True)
class TypingEvent:
    channel_id: int
    user_id: int
    at: float


@dataclass(frozen=True)
class ReactionEvent:
    message_id: int
    channel_id: int
    user_id: int
    emoji: str
    added: bool
    at: float


@dataclass(frozen=True)
class DeleteEvent:
    message_id: int
    channel_id: int
    by_user_id: int | None
    at: float


@dataclass(frozen=True)
class CommandSync:
    guild_id: int | None  # None: global
    commands: list[dict[str, Any]]
    at: float


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    route: str  # the route template, e.g. "/channels/{channel_id}/messages"
    status: int
    at: float
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayCommand:
    """Something the client sent on the gateway besides heartbeats (identify, presence, voice...)."""

    op: int
    data: Any
    at: float


@dataclass
class Records:
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    typing: list[TypingEvent] = field(default_factory=list)
    reactions: list[ReactionEvent] = field(default_factory=list)
    deletes: list[DeleteEvent] = field(default_factory=list)
    command_syncs: list[CommandSync] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    rate_limited: list[RequestRecord] = field(default_factory=list)  # 429s actually served
    gateway_commands: list[GatewayCommand] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # emulator bugs and unemulated routes: fail the test
    nonce_repeats: list[MessageRecord] = field(default_factory=list)  # enforce_nonce answered with an earlier message

    def requests_to(self, method: str, route: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == method and r.route == route]
