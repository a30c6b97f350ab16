"""The interaction half of the test API: slash commands, buttons, selects, modals, autocomplete.

Mixed into DiscordEmulator; every call builds the INTERACTION_CREATE a Discord client would send,
dispatches it, and returns a handle the test awaits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devtools.discord_emulator.errors import EmulatorError
from devtools.discord_emulator.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    InteractionDesk,
    InteractionResult,
    InteractionState,
)
from devtools.discord_emulator.invocations import (
    OptionBuilder,
    base_payload,
    check_can_use,
    find_component,
    modal_components,
)
from devtools.discord_emulator.records import Attachment, MessageRecord
from devtools.discord_emulator.waiting import Notifier
from devtools.discord_emulator.world import Channel, Member, User

if TYPE_CHECKING:
    from devtools.discord_emulator.core import Core


class EmulatedInteraction:
    """A handle on one interaction: what the bot answered, when, and its final visible result."""

    def __init__(self, desk: InteractionDesk, notifier: Notifier, state: InteractionState) -> None:
        self._desk = desk
        self._notifier = notifier
        self.state = state

    @property
    def id(self) -> int:
        return self.state.id

    @property
    def acknowledged_after(self) -> float | None:
        """Seconds from dispatch to the first accepted callback (None while unacknowledged)."""
        return self.state.acknowledged_after

    @property
    def callbacks(self) -> list[Any]:
        return self.state.callbacks

    @property
    def rejected(self) -> list[Any]:
        """Callbacks Discord refused (10062 too late, 40060 twice, invalid bodies)."""
        return self.state.rejected

    def result(self) -> InteractionResult:
        return self._desk.result(self.state)

    async def wait_done(self, timeout: float = 5.0,
                        until: Callable[[InteractionResult], bool] | None = None) -> InteractionResult:
        """Wait for a final visible answer: a message, an edit of a deferral, an update, a modal or choices.

        A deferral alone is not final. For answers that keep changing (streamed edits, follow-ups),
        pass `until`, e.g. `until=lambda r: len(r.followups) == 2` or `lambda r: r.content.endswith(".")`.
        """

        def ready() -> InteractionResult | None:
            if not self._desk.is_done(self.state):
                return None
            result = self.result()
            return result if until is None or until(result) else None

        return await self._notifier.wait_for(ready, timeout, lambda: self._desk.describe(self.state))

    async def wait_acknowledged(self, timeout: float = 5.0) -> float:
        await self._notifier.wait_for(lambda: self.state.response_type is not None, timeout,
                                      lambda: self._desk.describe(self.state))
        return self.state.acknowledged_after or 0.0

    def __repr__(self) -> str:
        return f"<EmulatedInteraction {self.state.name} id={self.id} response={self.state.response_type}>"


def _user(who: Member | User) -> User:
    return who.user if isinstance(who, Member) else who


class InteractionActions:
    core: Core
    interactions: list[EmulatedInteraction]

    async def invoke(self, member: Member | User, channel: Channel, command: str, /, *, force: bool = False,
                     options: dict[str, Any] | None = None, **values: Any) -> EmulatedInteraction:
        """Run a synced slash command as `member` in `channel`: `invoke(alice, general, "remind", when="in 5 minutes", what="tea")`.

        Options are keyword arguments (`foo_bar` also matches `foo-bar`; `options={...}` for any name,
        including "force" and "options");
        users/members, channels and roles resolve like the client resolves them; attachments are
        `(filename, bytes)` tuples. force=True skips the permission and context checks.
        """
        user = _user(member)
        name, *path = command.lstrip("/").split()
        definition = self._command(name, channel)
        if not force:
            check_can_use(self.core.world, definition, channel, user)
        builder = self._builder(channel, user)
        tree = builder.build(definition, path, {**(options or {}), **values})
        data = self._command_data(definition, tree, builder)
        return await self._dispatch(APPLICATION_COMMAND, channel, user, f"/{' '.join([name, *path])}", data)

    async def autocomplete(self, member: Member | User, channel: Channel, command: str, /, *,
                           focused: str | None = None, timeout: float = 5.0, **values: Any) -> list[dict[str, Any]]:
        """What the bot suggests while `member` types: `autocomplete(alice, general, "cache-clear", namespace="se")`."""
        user = _user(member)
        name, *path = command.lstrip("/").split()
        definition = self._command(name, channel)
        if focused is None:
            if len(values) != 1:
                raise EmulatorError("say which option is being typed: focused='name'")
            focused = next(iter(values))
        builder = self._builder(channel, user)
        tree = builder.build(definition, path, values, focused=focused)
        data = self._command_data(definition, tree, builder)
        handle = await self._dispatch(AUTOCOMPLETE, channel, user, f"/{command} (autocomplete)", data)
        result = await handle.wait_done(timeout)
        return result.choices or []

    async def click(self, member: Member | User, message: MessageRecord, custom_id: str) -> EmulatedInteraction:
        """Press the button `custom_id` on a message the bot sent."""
        component = find_component(message, custom_id)
        if component.get("type") != 2:
            raise EmulatorError(f"{custom_id!r} is not a button (type {component.get('type')}); use select()")
        return await self._component(member, message, custom_id, {"component_type": 2})

    async def select(self, member: Member | User, message: MessageRecord, custom_id: str,
                     values: list[Any]) -> EmulatedInteraction:
        """Choose `values` in the select menu `custom_id` (option values for string selects, objects otherwise)."""
        component = find_component(message, custom_id)
        kind = component.get("type")
        if kind == 3:
            allowed = [o["value"] for o in component.get("options") or []]
            if any(v not in allowed for v in values):
                raise EmulatorError(f"select {custom_id!r} offers {allowed}, not {values}")
            return await self._component(member, message, custom_id, {"component_type": 3, "values": list(values)})
        if kind in (5, 6, 7, 8):
            builder = self._builder(self._channel_of(message), _user(member))
            ids = [builder._value(custom_id, {"type": {5: 6, 6: 8, 7: 9, 8: 7}[kind], "name": custom_id}, v)
                   for v in values]
            return await self._component(member, message, custom_id,
                                         {"component_type": kind, "values": ids, "resolved": builder.resolved})
        raise EmulatorError(f"{custom_id!r} is not a select menu (type {kind})")

    async def submit_modal(self, member: Member | User, interaction: EmulatedInteraction,
                           values: dict[str, Any] | None = None, **fields: Any) -> EmulatedInteraction:
        """Fill in and submit the modal the bot opened in answer to `interaction` (values by custom_id)."""
        state = interaction.state
        if state.response_type != MODAL or state.modal is None:
            raise EmulatorError(f"{interaction!r} was not answered with a modal")
        modal = state.modal
        data = {"custom_id": modal["custom_id"], "components": modal_components(modal, {**(values or {}), **fields})}
        message = self.core.records.messages.get(state.message_id or 0)
        return await self._dispatch(MODAL_SUBMIT, state.channel, _user(member), f"modal {modal['custom_id']}", data,
                                    message=message)

    # -- building blocks ---------------------------------------------------------------------------

    def _command(self, name: str, channel: Channel) -> dict[str, Any]:
        definition = self.core.commands.find(name, channel.guild_id)
        if definition is None:
            known = sorted({c["name"] for c in self.core.commands.global_commands}
                           | {c["name"] for c in self.core.commands.guild_commands.get(channel.guild_id or 0, [])})
            raise EmulatorError(f"no synced command /{name}; the bot synced {known or 'nothing'}")
        return definition

    def _builder(self, channel: Channel, user: User) -> OptionBuilder:
        return OptionBuilder(self.core.world, channel, user, self._upload, self.core.base_url)

    def _upload(self, filename: str, data: bytes, content_type: str | None = None) -> Attachment:
        attachment = Attachment(self.core.world.snowflakes.next(), filename, data, content_type)
        self.core.uploads[attachment.id] = attachment
        return attachment

    @staticmethod
    def _command_data(definition: dict[str, Any], tree: list[dict[str, Any]], builder: OptionBuilder) -> dict[str, Any]:
        data: dict[str, Any] = {"id": definition["id"], "name": definition["name"], "type": definition["type"],
                                "options": tree}
        if builder.resolved:
            data["resolved"] = builder.resolved
        if "guild_id" in definition:
            data["guild_id"] = definition["guild_id"]
        return data

    def _channel_of(self, message: MessageRecord) -> Channel:
        found = self.core.world.find_channel(message.channel_id)
        if found is None:
            raise EmulatorError(f"message {message.id} is in a channel that no longer exists")
        return found[1]

    async def _component(self, member: Member | User, message: MessageRecord, custom_id: str,
                         data: dict[str, Any]) -> EmulatedInteraction:
        if message.deleted:
            raise EmulatorError(f"message {message.id} was deleted")
        if message.author_id != self.core.world.bot_user.id:
            raise EmulatorError("only the bot's own messages carry its components")
        return await self._dispatch(COMPONENT, self._channel_of(message), _user(member), custom_id,
                                    {"custom_id": custom_id, **data}, message=message)

    async def _dispatch(self, type: int, channel: Channel, user: User, name: str, data: dict[str, Any], *,
                        message: MessageRecord | None = None) -> EmulatedInteraction:
        core = self.core

        def build(interaction_id: int, token: str) -> dict[str, Any]:
            payload = base_payload(core.world, interaction_id, token, type, channel, user, data)
            if message is not None:
                payload["message"] = core.messenger.payload(message)
            return payload

        state = core.desk.new_state(type, channel, user, name, build, message_id=message.id if message else None)
        await core.gateway.dispatch("INTERACTION_CREATE", state.payload, guild_id=channel.guild_id)
        handle = EmulatedInteraction(core.desk, core.notifier, state)
        self.interactions.append(handle)
        return handle
