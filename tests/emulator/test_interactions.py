"""Interactions end to end with the real discord.py client and a CommandTree defined here: option
resolution, response types, deferrals and follow-ups, the 3-second and 15-minute rules, double
acknowledgement, components, modals, autocomplete, and what the test API refuses."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any, Literal

import discord
import pytest
from discord import app_commands

from devtools.discord_emulator import DiscordEmulator, EmulatorError
from tests.emulator.conftest import ClientFactory, EmuClient


class Harness:
    """What the handlers saw and did, plus gates the test opens to control their timing."""

    def __init__(self) -> None:
        self.interactions: dict[str, discord.Interaction] = {}
        self.errors: dict[str, Exception] = {}
        self.gates: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.responses: dict[str, Any] = {}


class Buttons(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="OK", custom_id="ok")
    async def ok(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"clicked by {interaction.user.name}", view=None)

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()  # type 6: acknowledge now, update the message afterwards
        await interaction.edit_original_response(content="updated later")

    @discord.ui.select(custom_id="flavour", options=[discord.SelectOption(label="Sweet", value="sweet"),
                                                     discord.SelectOption(label="Sour", value="sour")])
    async def flavour(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"chose {select.values[0]}", ephemeral=True)


class Form(discord.ui.Modal, title="A question"):
    answer = discord.ui.TextInput(label="Answer", custom_id="answer", max_length=10)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"got {self.answer.value}")


def build_tree(client: discord.Client, h: Harness) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)

    @tree.command(description="Say it back")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        h.interactions["echo"] = interaction
        h.responses["echo"] = await interaction.response.send_message(text)

    @tree.command(description="Say it to me only")
    async def secret(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    @tree.command(description="Think, then answer twice")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await h.gates["slow"].wait()
        await interaction.followup.send("first", ephemeral=True, suppress_embeds=True)
        await interaction.followup.send("second", ephemeral=True)

    @tree.command(description="Answer too late")
    async def late(interaction: discord.Interaction) -> None:
        h.gates["late started"].set()
        await h.gates["late"].wait()
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            h.errors["late"] = exc

    @tree.command(description="Grow an answer by edits")
    async def grow(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("a")
        await interaction.edit_original_response(content="a b")
        await interaction.edit_original_response(content="a b c")

    @tree.command(description="Everything about the options")
    async def info(interaction: discord.Interaction, user: discord.Member, channel: discord.TextChannel,
                   role: discord.Role, count: app_commands.Range[int, 1, 5], colour: Literal["red", "blue"]) -> None:
        h.interactions["info"] = interaction
        await interaction.response.send_message(
            f"{user.name}|{channel.name}|{role.name}|{count}|{colour}|{interaction.permissions.administrator}|"
            f"{interaction.app_permissions.send_messages}")

    @tree.command(name="admin-only", description="Administrators only")
    @app_commands.default_permissions(administrator=True)
    async def admin_only(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin things")

    @tree.command(description="Pick a fruit")
    async def pick(interaction: discord.Interaction, fruit: str) -> None:
        await interaction.response.send_message(f"picked {fruit}")

    @pick.autocomplete("fruit")
    async def fruits(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f, value=f) for f in ("apple", "apricot", "banana") if f.startswith(current)]

    @tree.command(description="Ask with a form")
    async def form(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Form())

    @tree.command(description="Show buttons")
    async def buttons(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("choose", view=Buttons())

    @tree.command(description="Read a file")
    async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
        await interaction.response.send_message((await file.read()).decode())

    tools = app_commands.Group(name="tools", description="Tools")

    @tools.command(description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    tree.add_command(tools)
    return tree


@pytest.fixture
async def harness(client_factory: ClientFactory) -> tuple[EmuClient, Harness]:
    h = Harness()

    def setup(client: discord.Client) -> None:
        tree = build_tree(client, h)

        async def sync() -> None:
            await tree.sync()

        client.setup_hook = sync  # type: ignore[method-assign]

    return await client_factory(setup=setup), h


@pytest.fixture
def people(emulator: DiscordEmulator) -> dict[str, Any]:
    return {"alice": emulator.member("alice"), "carol": emulator.member("carol"),
            "general": emulator.channel("general")}


async def test_sync_is_stored(emulator: DiscordEmulator, harness: Any) -> None:
    assert emulator.command_names() == sorted(["echo", "secret", "slow", "late", "grow", "info", "admin-only", "pick",
                                               "form", "buttons", "upload", "tools"])
    assert emulator.records.command_syncs[-1].guild_id is None


async def test_options_resolve_members_channels_and_roles(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    inter = await emulator.invoke(people["alice"], people["general"], "info", user=people["carol"],
                                  channel=emulator.channel("random"), role=emulator.role("Moderator"), count=3,
                                  colour="blue")
    result = await inter.wait_done()
    assert result.content == "carol|random|Moderator|3|blue|True|True"
    _, h = harness
    assert h.interactions["info"].channel.id == people["general"].id
    assert h.interactions["info"].guild.id == emulator.guild.id


async def test_a_message_response_and_its_callback_shape(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    _, h = harness
    inter = await emulator.invoke(people["alice"], people["general"], "echo", text="hello")
    result = await inter.wait_done()
    assert result.response_type == 4 and result.content == "hello" and not result.ephemeral
    assert inter.acknowledged_after is not None and 0 <= inter.acknowledged_after < 1
    response = h.responses["echo"]
    assert response.message_id == result.original.id
    assert isinstance(response.resource, discord.InteractionMessage)
    channel_messages = emulator.messages(people["general"])
    assert channel_messages == [result.original] and result.original.type == 20
    frames = [json.loads(f) for _, f in emulator.gateway.sessions[-1].sent]
    assert [f["d"]["content"] for f in frames if f["t"] == "MESSAGE_CREATE"] == ["hello"]


async def test_ephemeral_answers_stay_out_of_the_channel(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    inter = await emulator.invoke(people["alice"], people["general"], "secret", text="psst")
    result = await inter.wait_done()
    assert result.ephemeral and result.content == "psst"
    assert [(c.type, c.flags) for c in inter.callbacks] == [(4, 64)]
    assert emulator.messages(people["general"]) == []
    assert emulator.messages(people["general"], include_ephemeral=True) == [result.original]
    frames = [json.loads(f) for _, f in emulator.gateway.sessions[-1].sent]
    assert not [f for f in frames if f["t"] == "MESSAGE_CREATE"], "an ephemeral message was dispatched"


async def test_a_deferral_then_follow_ups(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    _, h = harness
    inter = await emulator.invoke(people["alice"], people["general"], "slow")
    await inter.wait_acknowledged()
    thinking = inter.result()
    assert thinking.response_type == 5 and thinking.original.loading and thinking.ephemeral
    with pytest.raises(AssertionError, match="interaction /slow"):
        await inter.wait_done(timeout=0.05)
    h.gates["slow"].set()
    result = await inter.wait_done(until=lambda r: len(r.followups) == 1)
    assert result.content == "first" and not result.original.loading  # the first follow-up became the original
    assert result.original.flags & (1 << 2) and not result.followups[0].flags & (1 << 2)  # its SUPPRESS_EMBEDS too
    assert [m.content for m in result.followups] == ["second"]
    assert result.ephemeral and all(m.ephemeral for m in result.followups)
    assert [m.content for m in result.messages] == ["first", "second"]


async def test_edits_of_the_original_are_recorded_in_order(emulator: DiscordEmulator, harness: Any,
                                                           people: Any) -> None:
    inter = await emulator.invoke(people["alice"], people["general"], "grow")
    result = await inter.wait_done(until=lambda r: r.content == "a b c")
    assert result.original.contents == ["a", "a b", "a b c"]
    assert result.original.edit_times == sorted(result.original.edit_times)


async def test_no_acknowledgement_within_3_seconds_is_10062(emulator: DiscordEmulator, harness: Any,
                                                             people: Any) -> None:
    _, h = harness
    inter = await emulator.invoke(people["alice"], people["general"], "late")
    await asyncio.wait_for(h.gates["late started"].wait(), 5)
    emulator.clock.advance(3.1)
    h.gates["late"].set()
    await emulator.wait_until(lambda: "late" in h.errors, message="the late answer to fail")
    assert h.errors["late"].code == 10062 and "Unknown interaction" in str(h.errors["late"])
    assert [(c.status, c.code) for c in inter.rejected] == [(404, 10062)]
    with pytest.raises(AssertionError, match="did not respond"):
        await inter.wait_done(timeout=0.05)


async def test_a_second_acknowledgement_is_40060(emulator: DiscordEmulator, harness: Any, people: Any,
                                                 raw: Any) -> None:
    inter = await emulator.invoke(people["alice"], people["general"], "echo", text="once")
    await inter.wait_done()
    status, body, _ = await raw("POST", f"/interactions/{inter.id}/{inter.state.token}/callback",
                                json={"type": 4, "data": {"content": "twice"}}, auth=False)
    assert status == 400 and body == {"message": "Interaction has already been acknowledged.", "code": 40060}
    assert [(c.status, c.code) for c in inter.rejected] == [(400, 40060)]


async def test_follow_ups_work_for_15_minutes_only(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    _, h = harness
    inter = await emulator.invoke(people["alice"], people["general"], "echo", text="start")
    await inter.wait_done()
    interaction = h.interactions["echo"]
    await interaction.followup.send("still here")
    await interaction.edit_original_response(content="edited")
    assert [m.content for m in inter.result().messages] == ["edited", "still here"]
    emulator.clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("too late")
    assert caught.value.status == 401 and caught.value.code == 50027
    with pytest.raises(discord.HTTPException):
        await interaction.edit_original_response(content="too late")


async def test_an_invalid_response_type_is_refused(emulator: DiscordEmulator, harness: Any, people: Any,
                                                   raw: Any) -> None:
    _, h = harness
    inter = await emulator.invoke(people["alice"], people["general"], "late")  # never answers by itself
    status, body, _ = await raw("POST", f"/interactions/{inter.id}/{inter.state.token}/callback?with_response=true",
                                json={"type": 7, "data": {"content": "update?"}}, auth=False)
    assert status == 400 and body["code"] == 50035
    status, body, _ = await raw("POST", f"/interactions/{inter.id}/{inter.state.token}/callback?with_response=true",
                                json={"type": 5}, auth=False)
    assert status == 200 and body["interaction"]["response_message_loading"] is True
    assert body["resource"]["message"]["flags"] & 128
    h.gates["late"].set()


async def test_commands_hidden_by_default_permissions(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    with pytest.raises(EmulatorError, match="cannot see /admin-only"):
        await emulator.invoke(people["carol"], people["general"], "admin-only")
    assert (await (await emulator.invoke(people["alice"], people["general"], "admin-only")).wait_done()).content
    forced = await emulator.invoke(people["carol"], people["general"], "admin-only", force=True)
    assert (await forced.wait_done()).content == "admin things"


async def test_autocomplete_returns_the_bots_choices(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    choices = await emulator.autocomplete(people["alice"], people["general"], "pick", fruit="ap")
    assert choices == [{"name": "apple", "value": "apple"}, {"name": "apricot", "value": "apricot"}]
    assert await emulator.autocomplete(people["alice"], people["general"], "pick", fruit="x") == []


async def test_a_modal_is_shown_and_submitted(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    inter = await emulator.invoke(people["alice"], people["general"], "form")
    result = await inter.wait_done()
    assert result.response_type == 9 and result.modal["title"] == "A question"
    with pytest.raises(EmulatorError, match="must be 0-10 characters"):
        await emulator.submit_modal(people["alice"], inter, answer="x" * 11)
    submitted = await emulator.submit_modal(people["alice"], inter, answer="42")
    assert (await submitted.wait_done()).content == "got 42"


async def test_buttons_and_selects_on_the_bots_message(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    shown = await (await emulator.invoke(people["alice"], people["general"], "buttons")).wait_done()
    message = shown.original
    assert [c["custom_id"] for row in message.components for c in row["components"]] == ["ok", "later", "flavour"]
    chosen = await (await emulator.select(people["carol"], message, "flavour", ["sour"])).wait_done()
    assert chosen.content == "chose sour" and chosen.ephemeral
    with pytest.raises(EmulatorError, match="offers"):
        await emulator.select(people["carol"], message, "flavour", ["bitter"])
    later = await (await emulator.click(people["carol"], message, "later")).wait_done()
    assert later.response_type == 6 and message.content == "updated later"
    clicked = await (await emulator.click(people["carol"], message, "ok")).wait_done()
    assert clicked.response_type == 7 and clicked.original is message
    assert message.content == "clicked by carol" and message.components == []
    with pytest.raises(EmulatorError, match="no component"):
        await emulator.click(people["carol"], message, "ok")


async def test_attachments_subcommands_and_dms(emulator: DiscordEmulator, harness: Any, people: Any) -> None:
    uploaded = await emulator.invoke(people["alice"], people["general"], "upload", file=("notes.txt", b"file text"))
    assert (await uploaded.wait_done()).content == "file text"
    assert (await (await emulator.invoke(people["alice"], people["general"], "tools ping")).wait_done()).content == "pong"
    dm = emulator.dm_channel(people["carol"])
    in_dm = await (await emulator.invoke(people["carol"], dm, "echo", text="private")).wait_done()
    assert in_dm.content == "private" and emulator.messages(dm) == [in_dm.original]


@pytest.mark.parametrize(("command", "options", "error"), [
    ("nope", {}, "no synced command /nope"),
    ("tools", {}, "needs a subcommand"),
    ("tools pong", {}, "no subcommand 'pong'"),
    ("echo", {}, "needs the required option"),
    ("echo", {"text": "x", "colour": "red"}, "has no option 'colour'"),
    ("info", {"user": "carol", "channel": "random", "role": "Moderator", "count": 9, "colour": "red"}, "between 1 and 5"),
    ("info", {"user": "carol", "channel": "random", "role": "Moderator", "count": 1, "colour": "green"}, "one of"),
    ("echo", {"text": 5}, "takes text"),
])
async def test_what_a_user_could_not_send_is_refused(emulator: DiscordEmulator, harness: Any, people: Any,
                                                     command: str, options: dict[str, Any], error: str) -> None:
    resolved = {"user": emulator.member("carol"), "channel": emulator.channel("random"),
                "role": emulator.role("Moderator")}
    options = {k: resolved.get(k, v) if isinstance(v, str) and k in resolved else v for k, v in options.items()}
    with pytest.raises(EmulatorError, match=error):
        await emulator.invoke(people["alice"], people["general"], command, **options)


async def test_invalid_command_definitions_are_refused(emulator: DiscordEmulator, raw: Any) -> None:
    app = emulator.world.application.id
    bad = [{"name": "Bad Name", "description": "x", "type": 1},
           {"name": "order", "description": "x", "options": [
               {"type": 3, "name": "a", "description": "a"}, {"type": 3, "name": "b", "description": "b", "required": True}]}]
    status, body, _ = await raw("PUT", f"/applications/{app}/commands", json=bad)
    assert status == 400 and body["code"] == 50035
    assert body["errors"]["0"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    assert body["errors"]["1"]["options"]["1"]["_errors"][0]["code"] == "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
    assert emulator.core.commands.global_commands == []
