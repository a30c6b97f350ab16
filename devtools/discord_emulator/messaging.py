"""Creating, editing and deleting messages: validation, mentions, records and gateway events in one place.

REST routes, interaction callbacks, webhooks and the test API all go through here, so a message looks
the same however it was made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devtools.discord_emulator import payloads
from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.errors import FormErrors, unknown
from devtools.discord_emulator.gateway import Gateway
from devtools.discord_emulator.limits import validate_message
from devtools.discord_emulator.mentions import compute_mentions
from devtools.discord_emulator.records import (
    Attachment,
    DeleteEvent,
    MessageRecord,
    MessageVersion,
    ReactionEvent,
    Records,
    TypingEvent,
)
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import Channel, User, World, iso

DEFAULT, REPLY, CHAT_INPUT_COMMAND = 0, 19, 20
SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, COMPONENTS_V2 = 1 << 2, 1 << 12, 1 << 15
SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2
EDITABLE_FLAGS = SUPPRESS_EMBEDS
NONCE_WINDOW = 300.0  # seconds: Discord checks enforce_nonce "in the past few minutes"


@dataclass(frozen=True)
class UploadedFile:
    """One `files[n]` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


class Messenger:
    def __init__(self, world: World, records: Records, gateway: Gateway, clock: Clock, notifier: Notifier,
                 base_url: Callable[[], str]) -> None:
        self.world = world
        self.records = records
        self.gateway = gateway
        self.clock = clock
        self.notifier = notifier
        self._base_url = base_url
        self._nonces: dict[tuple[int, str], MessageRecord] = {}

    def payload(self, record: MessageRecord) -> dict[str, Any]:
        return payloads.message(self.world, record, self._base_url(), lookup=self.records.messages)

    def in_channel(self, channel_id: int, *, include_deleted: bool = False) -> list[MessageRecord]:
        return [m for m in self.records.messages.values()
                if m.channel_id == channel_id and (include_deleted or not m.deleted)]

    def find(self, channel_id: int, message_id: int) -> MessageRecord | None:
        record = self.records.messages.get(message_id)
        if record is None or record.channel_id != channel_id or record.deleted:
            return None
        return record

    # -- messages ----------------------------------------------------------------------------------

    def earlier_with_nonce(self, author: User, body: dict[str, Any]) -> MessageRecord | None:
        """With `enforce_nonce`, the message this author already created with this nonce in the past
        few minutes: Discord returns it instead of creating another (a retried send stays one message)."""
        nonce = body.get("nonce")
        if not body.get("enforce_nonce") or nonce is None:
            return None
        earlier = self._nonces.get((author.id, str(nonce)))
        if earlier is None or earlier.deleted or self.clock.monotonic() - earlier.created_at > NONCE_WINDOW:
            return None
        self.records.nonce_repeats.append(earlier)
        return earlier

    async def create(self, channel: Channel, author: User, body: dict[str, Any], files: Sequence[UploadedFile] = (), *,
                     type: int = DEFAULT, flags: int = 0, interaction_id: int | None = None,
                     interaction_metadata: dict[str, Any] | None = None, webhook_id: int | None = None,
                     dispatch: bool = True, validate: bool = True) -> MessageRecord:
        """Validate and store a new message, then dispatch MESSAGE_CREATE (not for ephemeral ones).

        validate=False only for a deferral's empty "thinking" message, which Discord makes itself.
        """
        reference, replied_user = self._reference(channel, body.get("message_reference"))
        attachments = self._attachments([], body.get("attachments"), files)
        message = {**body, "flags": (int(body.get("flags") or 0) & SETTABLE_FLAGS) | flags}
        if validate:
            validate_message(message, attachments=len(attachments))
        version = self._version(channel, author, message, attachments, body.get("allowed_mentions"), replied_user)
        now = self.clock.time()
        record = MessageRecord(
            id=self.world.snowflakes.next(), channel_id=channel.id, guild_id=channel.guild_id, author_id=author.id,
            created_at=version.at, timestamp=iso(now), versions=[version],
            type=REPLY if reference and type == DEFAULT else type, reference=reference,
            interaction_id=interaction_id, interaction_metadata=interaction_metadata, webhook_id=webhook_id,
            nonce=body.get("nonce"), tts=bool(body.get("tts")),
        )
        self.records.messages[record.id] = record
        if record.nonce is not None:
            self._nonces[(author.id, str(record.nonce))] = record
        if dispatch and not record.ephemeral:
            await self.gateway.dispatch("MESSAGE_CREATE", self.payload(record), guild_id=channel.guild_id)
        self.notifier.notify()
        return record

    async def edit(self, record: MessageRecord, body: dict[str, Any], files: Sequence[UploadedFile] = (), *,
                   clear_flags: int = 0, dispatch: bool = True) -> MessageRecord:
        """Apply the fields present in `body` (as PATCH does), validate the result, dispatch MESSAGE_UPDATE."""
        old = record.latest
        found = self.world.find_channel(record.channel_id)
        if found is None:
            raise unknown("Channel")  # e.g. an interaction's channel deleted before the edit
        channel = found[1]
        author = self.world.users[record.author_id]
        flags = old.flags & ~clear_flags
        if "flags" in body and body["flags"] is not None:
            flags = (flags & ~EDITABLE_FLAGS) | (int(body["flags"]) & EDITABLE_FLAGS)
        merged = {
            "content": body["content"] if "content" in body else old.content,
            "embeds": body["embeds"] if "embeds" in body else old.embeds,
            "components": body["components"] if "components" in body else old.components,
            "flags": flags,
        }
        attachments = self._attachments(old.attachments, body.get("attachments"), files)
        validate_message(merged, attachments=len(attachments))
        allowed = body["allowed_mentions"] if "allowed_mentions" in body else old.allowed_mentions
        replied = self.records.messages.get(int(record.reference["message_id"])) if record.reference else None
        version = self._version(channel, author, merged, attachments, allowed, replied.author_id if replied else None)
        record.versions.append(version)
        record.edited_timestamp = iso(self.clock.time())
        if dispatch and not record.ephemeral:
            await self.gateway.dispatch("MESSAGE_UPDATE", self.payload(record), guild_id=record.guild_id)
        self.notifier.notify()
        return record

    async def delete(self, record: MessageRecord, by: User | None) -> None:
        record.deleted_at = self.clock.monotonic()
        self.records.deletes.append(DeleteEvent(record.id, record.channel_id, by.id if by else None,
                                                record.deleted_at))
        if not record.ephemeral:
            data = {"id": str(record.id), "channel_id": str(record.channel_id)}
            if record.guild_id:
                data["guild_id"] = str(record.guild_id)
            await self.gateway.dispatch("MESSAGE_DELETE", data, guild_id=record.guild_id)
        self.notifier.notify()

    async def delete_many(self, records: Sequence[MessageRecord], by: User | None) -> None:
        """A purge (bulk delete): one MESSAGE_DELETE_BULK for the channel, as Discord sends it."""
        if not records:
            return
        channel_id, guild_id = records[0].channel_id, records[0].guild_id
        if any(r.channel_id != channel_id for r in records):
            raise ValueError("a bulk delete is for one channel")
        now = self.clock.monotonic()
        for record in records:
            record.deleted_at = now
            self.records.deletes.append(DeleteEvent(record.id, channel_id, by.id if by else None, now))
        data: dict[str, Any] = {"ids": [str(r.id) for r in records if not r.ephemeral],
                                "channel_id": str(channel_id)}
        if guild_id:
            data["guild_id"] = str(guild_id)
        await self.gateway.dispatch("MESSAGE_DELETE_BULK", data, guild_id=guild_id)
        self.notifier.notify()

    # -- reactions and typing ----------------------------------------------------------------------

    async def react(self, record: MessageRecord, user: User, emoji: str, *, add: bool = True) -> None:
        users = record.reactions.setdefault(emoji, [])
        if add == (user.id in users):
            return  # Discord answers 204 and changes nothing
        if add:
            users.append(user.id)
        else:
            users.remove(user.id)
        self.records.reactions.append(ReactionEvent(record.id, record.channel_id, user.id, emoji, add,
                                                    self.clock.monotonic()))
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(record.channel_id),
                                "message_id": str(record.id), "emoji": payloads._emoji(emoji),
                                "burst": False, "type": 0}
        if add:
            data["message_author_id"] = str(record.author_id)
            data["burst_colors"] = []
        guild = self.world.guilds.get(record.guild_id) if record.guild_id else None
        if guild is not None:
            data["guild_id"] = str(guild.id)
            if add and user.id in guild.members:
                data["member"] = payloads.member(guild.members[user.id])
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        await self.gateway.dispatch(event, data, guild_id=record.guild_id)
        self.notifier.notify()

    async def typing(self, channel: Channel, user: User) -> None:
        now = self.clock.monotonic()
        self.records.typing.append(TypingEvent(channel.id, user.id, now))
        data: dict[str, Any] = {"channel_id": str(channel.id), "user_id": str(user.id), "timestamp": int(self.clock.time())}
        guild = self.world.guild_of(channel)
        if guild is not None:
            data["guild_id"] = str(guild.id)
            if user.id in guild.members:
                data["member"] = payloads.member(guild.members[user.id])
        await self.gateway.dispatch("TYPING_START", data, guild_id=channel.guild_id)
        self.notifier.notify()

    # -- helpers -----------------------------------------------------------------------------------

    def _version(self, channel: Channel, author: User, message: dict[str, Any], attachments: list[Attachment],
                 allowed: dict[str, Any] | None, replied_user: int | None) -> MessageVersion:
        content = message.get("content") or ""
        mentions = compute_mentions(self.world, channel, author, content, allowed, replied_user_id=replied_user)
        return MessageVersion(
            at=self.clock.monotonic(), content=content, embeds=list(message.get("embeds") or []),
            components=list(message.get("components") or []), flags=int(message.get("flags") or 0),
            attachments=attachments, allowed_mentions=allowed, mentions=mentions.users,
            mention_roles=mentions.roles, mention_everyone=mentions.everyone,
        )

    def _reference(self, channel: Channel, ref: dict[str, Any] | None) -> tuple[dict[str, Any] | None, int | None]:
        if not ref or ref.get("type", 0) != 0:
            return None, None
        channel_id = int(ref.get("channel_id") or channel.id)
        target = self.find(channel_id, int(ref.get("message_id") or 0))
        if target is None or channel_id != channel.id:
            if ref.get("fail_if_not_exists", True):
                errors = FormErrors()
                errors.add(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                errors.raise_if_any()
            return None, None
        normalized = {"type": 0, "message_id": str(target.id), "channel_id": str(channel.id)}
        if channel.guild_id:
            normalized["guild_id"] = str(channel.guild_id)
        return normalized, target.author_id

    def _attachments(self, existing: list[Attachment], meta: list[dict[str, Any]] | None,
                     files: Sequence[UploadedFile]) -> list[Attachment]:
        """Kept attachments (listed by id in `attachments`) plus the uploaded files, as Discord pairs them."""
        by_index = {f.index: f for f in files}
        if meta is None:
            kept = list(existing)
            new = [self._stored(f, None) for f in files]
            return kept + new
        result: list[Attachment] = []
        known = {a.id: a for a in existing}
        for item in meta:
            item_id = int(item.get("id", -1))
            if item_id in known:
                result.append(known[item_id])
            elif item_id in by_index:
                result.append(self._stored(by_index.pop(item_id), item))
        result.extend(self._stored(f, None) for f in by_index.values())
        return result

    def _stored(self, upload: UploadedFile, meta: dict[str, Any] | None) -> Attachment:
        meta = meta or {}
        return Attachment(self.world.snowflakes.next(), meta.get("filename") or upload.filename, upload.data,
                          upload.content_type, meta.get("description"))
