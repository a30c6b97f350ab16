"""Interaction lifecycles as Discord runs them: 3 seconds to acknowledge, one response, @original edits
and follow-ups for 15 minutes, every callback recorded with its time; and what the user finally sees."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.discord_emulator.clock import Clock
from devtools.discord_emulator.errors import (
    DiscordError,
    FormErrors,
    already_acknowledged,
    invalid_webhook_token,
    unknown,
)
from devtools.discord_emulator.messaging import CHAT_INPUT_COMMAND, DEFAULT, Messenger, UploadedFile
from devtools.discord_emulator.payloads import user as user_payload
from devtools.discord_emulator.records import EPHEMERAL, LOADING, MessageRecord
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import Channel, User, World

PING, APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, CHOICES, MODAL = 1, 4, 5, 6, 7, 8, 9
ALLOWED_RESPONSES = {
    PING: {PONG},
    APPLICATION_COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    AUTOCOMPLETE: {CHOICES},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}
RESPONSE_FLAGS = EPHEMERAL | (1 << 2) | (1 << 12) | (1 << 15)


@dataclass(frozen=True)
class Callback:
    """One POST to the callback endpoint, accepted or refused."""

    type: int | None
    flags: int
    data: dict[str, Any]
    at: float
    after: float  # seconds since the interaction was created
    status: int
    code: int | None = None


@dataclass(eq=False)
class InteractionState:
    id: int
    token: str
    type: int
    channel: Channel
    guild_id: int | None
    user: User
    name: str  # "/command sub" or the component's custom_id or the modal's custom_id
    created_at: float
    payload: dict[str, Any]
    message_id: int | None = None  # the message a component or modal belonged to
    callbacks: list[Callback] = field(default_factory=list)
    rejected: list[Callback] = field(default_factory=list)
    response_type: int | None = None
    acknowledged_at: float | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    updated_after_ack: bool = False
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None

    @property
    def acknowledged_after(self) -> float | None:
        return None if self.acknowledged_at is None else self.acknowledged_at - self.created_at


@dataclass(frozen=True)
class InteractionResult:
    """What the invoking user finally sees: the original response and the follow-ups."""

    response_type: int | None
    original: MessageRecord | None
    followups: list[MessageRecord]
    modal: dict[str, Any] | None
    choices: list[dict[str, Any]] | None
    acknowledged_after: float | None
    ephemeral: bool

    @property
    def content(self) -> str:
        return self.original.content if self.original else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.original.embeds if self.original else []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.original.components if self.original else []

    @property
    def messages(self) -> list[MessageRecord]:
        """Original then follow-ups, as the user sees them (deleted ones left out)."""
        return [m for m in ([self.original] if self.original else []) + self.followups if not m.deleted]

    @property
    def text(self) -> str:
        """Every visible message's content and embed texts joined, for "does the answer say X" checks."""
        parts: list[str] = []
        for m in self.messages:
            parts.append(m.content)
            for e in m.embeds:
                parts += [e.get("title") or "", e.get("description") or ""]
                parts += [f"{f.get('name')}\n{f.get('value')}" for f in e.get("fields") or []]
        return "\n".join(p for p in parts if p)


class InteractionDesk:
    """Every interaction the emulator created, and the webhook side Discord keeps for each."""

    def __init__(self, world: World, messenger: Messenger, clock: Clock, notifier: Notifier, *,
                 ack_timeout: float = 3.0, token_lifetime: float = 15 * 60) -> None:
        self.world = world
        self.messenger = messenger
        self.clock = clock
        self.notifier = notifier
        self.ack_timeout = ack_timeout
        self.token_lifetime = token_lifetime
        self.states: dict[int, InteractionState] = {}
        self._by_token: dict[str, InteractionState] = {}

    def new_state(self, type: int, channel: Channel, user: User, name: str, build: Callable[[int, str], dict[str, Any]],
                  *, message_id: int | None = None) -> InteractionState:
        interaction_id = self.world.snowflakes.next()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        state = InteractionState(interaction_id, token, type, channel, channel.guild_id, user, name,
                                 self.clock.monotonic(), build(interaction_id, token), message_id=message_id)
        self.states[interaction_id] = state
        self._by_token[token] = state
        return state

    # -- POST /interactions/{id}/{token}/callback --------------------------------------------------

    async def callback(self, interaction_id: int, token: str, body: dict[str, Any],
                       files: list[UploadedFile]) -> dict[str, Any]:
        state = self.states.get(interaction_id)
        if state is None or state.token != token:
            raise unknown("interaction")
        now = self.clock.monotonic()
        response_type = body.get("type")
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)

        def refuse(status: int, code: int) -> None:
            state.rejected.append(Callback(response_type, flags, data, now, now - state.created_at, status, code))
            self.notifier.notify()

        if state.response_type is not None:
            refuse(400, 40060)
            raise already_acknowledged()
        if now - state.created_at > self.ack_timeout:
            refuse(404, 10062)
            raise unknown("interaction")
        if response_type not in ALLOWED_RESPONSES[state.type]:
            refuse(400, 50035)
            errors = FormErrors()
            errors.add(("type",), "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid")
            errors.raise_if_any()
        try:
            message = await self._respond(state, response_type, data, files)
        except DiscordError as exc:
            refuse(exc.status, exc.code)
            raise
        state.response_type = response_type
        state.acknowledged_at = now
        state.callbacks.append(Callback(response_type, flags, data, now, now - state.created_at, 200 if message else 204))
        self.notifier.notify()
        result: dict[str, Any] = {
            "interaction": {"id": str(state.id), "type": state.type,
                            "response_message_loading": response_type == DEFERRED_MESSAGE,
                            "response_message_ephemeral": bool(message and message.ephemeral)},
            "resource": {"type": response_type},
        }
        if message is not None:
            result["interaction"]["response_message_id"] = str(message.id)
            result["resource"]["message"] = self.messenger.payload(message)
        return result

    async def _respond(self, state: InteractionState, response_type: int, data: dict[str, Any],
                       files: list[UploadedFile]) -> MessageRecord | None:
        bot = self.world.bot_user
        if response_type in (MESSAGE, DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0) & RESPONSE_FLAGS
            body = data if response_type == MESSAGE else {"content": ""}
            if response_type == DEFERRED_MESSAGE:
                flags = (flags & EPHEMERAL) | LOADING
            record = await self.messenger.create(
                state.channel, bot, body, files, flags=flags, validate=response_type == MESSAGE,
                type=CHAT_INPUT_COMMAND if state.type == APPLICATION_COMMAND else DEFAULT,
                interaction_id=state.id, interaction_metadata=self._metadata(state), webhook_id=self.world.application.id)
            state.original_id = record.id
            return record
        if response_type in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            target = self.messenger.records.messages.get(state.message_id or 0)
            if target is None:
                raise unknown("Message")
            state.original_id = target.id
            if response_type == UPDATE_MESSAGE:
                await self.messenger.edit(target, data, files)
                return target
            return None
        if response_type == CHOICES:
            choices = data.get("choices") or []
            errors = FormErrors()
            if len(choices) > 25:
                errors.too_long(("data", "choices"), 25)
            for i, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name") or "")) <= 100:
                    errors.add(("data", "choices", i, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            errors.raise_if_any()
            state.choices = choices
            return None
        if response_type == MODAL:
            errors = FormErrors()
            if not data.get("custom_id"):
                errors.required(("data", "custom_id"))
            if not 1 <= len(data.get("title") or "") <= 45:
                errors.add(("data", "title"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
            if not 1 <= len(data.get("components") or []) <= 5:
                errors.add(("data", "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            errors.raise_if_any()
            state.modal = data
            return None
        return None  # PONG

    def _metadata(self, state: InteractionState) -> dict[str, Any]:
        owners = {"0": str(state.guild_id)} if state.guild_id else {"1": str(state.user.id)}
        metadata: dict[str, Any] = {"id": str(state.id), "type": state.type, "user": user_payload(state.user),
                                    "authorizing_integration_owners": owners}
        if state.type == APPLICATION_COMMAND:
            metadata["name"] = state.name.lstrip("/")
            metadata["command_type"] = 1
        if state.message_id is not None:
            metadata["interacted_message_id"] = str(state.message_id)
        return metadata

    # -- /webhooks/{application_id}/{token}... -----------------------------------------------------

    def webhook_state(self, application_id: int, token: str) -> InteractionState:
        state = self._by_token.get(token)
        if state is None or application_id != self.world.application.id:
            raise unknown("Webhook")
        if self.clock.monotonic() - state.created_at > self.token_lifetime:
            raise invalid_webhook_token()
        return state

    def message_of(self, state: InteractionState, message_id: int | None) -> MessageRecord:
        """The original (message_id None) or one follow-up of this interaction."""
        wanted = state.original_id if message_id is None else message_id
        if wanted is None or (message_id is not None and message_id not in state.followup_ids
                              and message_id != state.original_id):
            raise unknown("Message")
        record = self.messenger.records.messages.get(wanted)
        if record is None or record.deleted:
            raise unknown("Message")
        return record

    async def edit(self, state: InteractionState, message_id: int | None, body: dict[str, Any],
                   files: list[UploadedFile]) -> MessageRecord:
        record = self.message_of(state, message_id)
        record = await self.messenger.edit(record, body, files, clear_flags=LOADING)
        state.updated_after_ack = True
        self.notifier.notify()
        return record

    async def delete(self, state: InteractionState, message_id: int | None) -> None:
        record = self.message_of(state, message_id)
        await self.messenger.delete(record, self.world.bot_user)
        state.updated_after_ack = True
        self.notifier.notify()

    async def followup(self, state: InteractionState, body: dict[str, Any], files: list[UploadedFile]) -> MessageRecord:
        if state.response_type is None:
            raise unknown("Webhook")
        original = self.messenger.records.messages.get(state.original_id or 0)
        if state.response_type == DEFERRED_MESSAGE and original is not None and original.loading:
            # Discord turns the first follow-up after a deferral into the "thinking" message itself; its
            # visibility stays the deferral's, an editable flag it carries (SUPPRESS_EMBEDS) applies.
            record = await self.messenger.edit(original, body, files, clear_flags=LOADING)
        else:
            record = await self.messenger.create(
                state.channel, self.world.bot_user, body, files, flags=int(body.get("flags") or 0) & RESPONSE_FLAGS,
                interaction_id=state.id, interaction_metadata=self._metadata(state),
                webhook_id=self.world.application.id)
            state.followup_ids.append(record.id)
        state.updated_after_ack = True
        self.notifier.notify()
        return record

    # -- results -----------------------------------------------------------------------------------

    def result(self, state: InteractionState) -> InteractionResult:
        messages = self.messenger.records.messages
        original = messages.get(state.original_id) if state.original_id else None
        if state.response_type in (DEFERRED_UPDATE, UPDATE_MESSAGE) and original is None:
            original = messages.get(state.message_id or 0)
        return InteractionResult(
            response_type=state.response_type, original=original,
            followups=[messages[i] for i in state.followup_ids], modal=state.modal, choices=state.choices,
            acknowledged_after=state.acknowledged_after, ephemeral=bool(original and original.ephemeral),
        )

    def is_done(self, state: InteractionState) -> bool:
        """Answered with something the user can see as final (a deferral alone is not)."""
        if state.response_type is None:
            return False
        if state.response_type == DEFERRED_MESSAGE:
            original = self.messenger.records.messages.get(state.original_id or 0)
            return original is None or original.deleted or not original.loading
        if state.response_type == DEFERRED_UPDATE:
            return state.updated_after_ack
        return True

    def describe(self, state: InteractionState) -> str:
        lines = [f"interaction {state.name} (id {state.id}) by {state.user.username} to finish"]
        lines.append(f"  responses: {[(c.type, round(c.after, 3)) for c in state.callbacks] or 'none'}")
        if state.rejected:
            lines.append(f"  refused callbacks: {[(c.type, c.status, c.code) for c in state.rejected]}")
        if state.response_type is None and self.clock.monotonic() - state.created_at > self.ack_timeout:
            lines.append(f"  not acknowledged within {self.ack_timeout:g} s: Discord would show "
                         "'The application did not respond'")
        result = self.result(state)
        if result.original is not None:
            lines.append(f"  original: {result.original!r}")
        return "\n".join(lines)
