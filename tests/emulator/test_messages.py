"""Messages over REST with the real discord.py client: Discord's limits and error bodies, multipart
uploads, edits with history, deletes, history paging, reactions, typing, DMs, replies."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
import pytest

from devtools.discord_emulator import DiscordEmulator
from tests.emulator.conftest import ClientFactory, EmuClient


def _channel(client: discord.Client, emulator: DiscordEmulator, name: str = "general") -> discord.TextChannel:
    channel = client.get_channel(emulator.channel(name).id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_2000_characters_pass_and_2001_are_refused(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    await channel.send("x" * 2000)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x" * 2001)
    assert caught.value.status == 400 and caught.value.code == 50035
    assert "In content: Must be 2000 or fewer in length." in caught.value.text
    assert [len(m.content) for m in emulator.messages(emulator.channel("general"))] == [2000]


def _embed(**fields: Any) -> dict[str, Any]:
    return {"type": "rich", **fields}


@pytest.mark.parametrize(("embeds", "path", "message"), [
    ([_embed(title="t" * 257)], ("embeds", "0", "title"), "Must be 256 or fewer in length."),
    ([_embed(description="d" * 4097)], ("embeds", "0", "description"), "Must be 4096 or fewer in length."),
    ([_embed(fields=[{"name": "n", "value": "v"}] * 26)], ("embeds", "0", "fields"), "Must be 25 or fewer in length."),
    ([_embed(fields=[{"name": "n" * 257, "value": "v"}])], ("embeds", "0", "fields", "0", "name"), "Must be 256 or fewer"),
    ([_embed(fields=[{"name": "n", "value": "v" * 1025}])], ("embeds", "0", "fields", "0", "value"), "Must be 1024 or fewer"),
    ([_embed(fields=[{"name": "n", "value": ""}])], ("embeds", "0", "fields", "0", "value"), "This field is required"),
    ([_embed(footer={"text": "f" * 2049})], ("embeds", "0", "footer", "text"), "Must be 2048 or fewer in length."),
    ([_embed(author={"name": "a" * 257})], ("embeds", "0", "author", "name"), "Must be 256 or fewer in length."),
    ([_embed(description="d" * 3001), _embed(description="d" * 3000)], ("embeds",), "Embed size exceeds maximum size of 6000"),
    ([_embed(title="t")] * 11, ("embeds",), "Must be 10 or fewer in length."),
])
async def test_embed_limits_are_refused_with_discords_body(emulator: DiscordEmulator, raw: Any, embeds: list[dict[str, Any]],
                                                          path: tuple[str, ...], message: str) -> None:
    status, body, response = await raw("POST", f"/channels/{emulator.channel('general').id}/messages",
                                       json={"content": "x", "embeds": embeds})
    assert status == 400 and response.headers["Content-Type"] == "application/json"
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    node = body["errors"]
    for part in path:
        node = node[part]
    assert message in node["_errors"][0]["message"]
    assert not emulator.messages(emulator.channel("general"))


async def test_embeds_at_their_limits_pass(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    embed = discord.Embed(title="t" * 256, description="d" * 3000)
    for i in range(25):
        embed.add_field(name=f"{i}", value="v" * 10)
    embed.set_footer(text="f" * 100)
    sent = await channel.send(embed=embed)
    record = emulator.messages(emulator.channel("general"))[0]
    assert record.id == sent.id and record.embeds[0]["title"] == "t" * 256 and len(record.embeds[0]["fields"]) == 25


async def test_an_empty_message_is_refused_with_50006(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("   ")
    assert caught.value.status == 400 and caught.value.code == 50006


async def test_unknown_channel_and_message_are_404(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    client = await client_factory()
    with pytest.raises(discord.NotFound) as caught:
        await client.get_partial_messageable(123).send("hello")
    assert caught.value.code == 10003
    with pytest.raises(discord.NotFound) as caught:
        await _channel(client, emulator).fetch_message(456)
    assert caught.value.code == 10008


async def test_revoked_access_is_403_missing_access(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    client = await client_factory()
    channel = _channel(client, emulator, "random")
    await channel.send("still allowed")
    await emulator.revoke_access(emulator.channel("random"))
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("not any more")
    assert caught.value.code == 50001
    await emulator.wait_until(lambda: not channel.permissions_for(channel.guild.me).view_channel,
                              message="CHANNEL_UPDATE with the overwrite")


async def test_files_go_up_as_multipart_and_can_be_downloaded(emulator: DiscordEmulator,
                                                              client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    sent = await channel.send("two files", files=[discord.File(io.BytesIO(b"hello"), "hello.txt"),
                                                  discord.File(io.BytesIO(b"\x00\x01"), "data.bin",
                                                               description="binary")])
    record = emulator.messages(emulator.channel("general"))[0]
    assert record.content == "two files"
    assert [(a.filename, a.data) for a in record.attachments] == [("hello.txt", b"hello"), ("data.bin", b"\x00\x01")]
    assert record.attachments[1].description == "binary"
    assert [a.filename for a in sent.attachments] == ["hello.txt", "data.bin"]
    assert await sent.attachments[0].read() == b"hello"
    # A file alone is a message; editing can drop it.
    only_file = await channel.send(file=discord.File(io.BytesIO(b"x"), "x.txt"))
    await only_file.edit(content="now text", attachments=[])
    assert emulator.core.records.messages[only_file.id].attachments == []


async def test_edits_keep_every_version_and_reach_the_client(emulator: DiscordEmulator,
                                                             client_factory: ClientFactory) -> None:
    edits: list[tuple[str, str]] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
            edits.append((before.content, after.content))

    channel = _channel(await client_factory(setup=setup), emulator)
    message = await channel.send("one")
    await message.edit(content="one two")
    await message.edit(content="one two three", embed=discord.Embed(title="done"))
    record = emulator.core.records.messages[message.id]
    assert record.contents == ["one", "one two", "one two three"]
    assert record.edits == 2 and record.embeds[0]["title"] == "done"
    assert record.edit_times == sorted(record.edit_times)
    await emulator.wait_until(lambda: len(edits) == 2, message="two on_message_edit")
    assert edits[-1] == ("one two", "one two three")
    await message.edit(content="")  # the embed alone still makes a message
    with pytest.raises(discord.HTTPException) as caught:
        await message.edit(embed=None)
    assert caught.value.code == 50006


async def test_the_bot_cannot_edit_someone_elses_message(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    client = await client_factory()
    theirs = await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "mine")
    message = await _channel(client, emulator).fetch_message(theirs.id)
    with pytest.raises(discord.Forbidden) as caught:
        await message.edit(content="changed")
    assert caught.value.code == 50005


async def test_deletes_are_recorded_and_dispatched(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    deleted: list[int] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_raw_message_delete(event: discord.RawMessageDeleteEvent) -> None:
            deleted.append(event.message_id)

    client = await client_factory(setup=setup)
    message = await _channel(client, emulator).send("short-lived")
    await message.delete()
    carol_says = await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "hi")
    with pytest.raises(discord.Forbidden):  # the bot may not delete others' messages without Manage Messages
        await (await _channel(client, emulator).fetch_message(carol_says.id)).delete()
    await emulator.wait_until(lambda: deleted == [message.id], message="MESSAGE_DELETE")
    assert emulator.core.records.messages[message.id].deleted
    assert [d.message_id for d in emulator.records.deletes] == [message.id]
    assert emulator.messages(emulator.channel("general")) == [emulator.core.records.messages[carol_says.id]]


async def test_history_pages_like_discord(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    records = [await emulator.send_message(emulator.member("carol"), emulator.channel("general"), f"m{i}")
               for i in range(7)]
    newest = [m.content async for m in channel.history(limit=3)]
    assert newest == ["m6", "m5", "m4"]
    before = [m.content async for m in channel.history(limit=10, before=discord.Object(records[3].id))]
    assert before == ["m2", "m1", "m0"]
    after = [m.content async for m in channel.history(limit=2, after=discord.Object(records[3].id))]
    assert after == ["m4", "m5"]
    around = [m.content async for m in channel.history(limit=3, around=discord.Object(records[3].id))]
    assert sorted(around) == ["m2", "m3", "m4"]
    everything = [m.content async for m in channel.history(limit=None, oldest_first=True)]
    assert everything == [f"m{i}" for i in range(7)]


async def test_reactions_and_typing(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    message = await channel.send("react to me")
    await message.add_reaction("👍")
    await message.add_reaction("👀")
    await message.remove_reaction("👀", channel.guild.me)
    record = emulator.core.records.messages[message.id]
    assert record.reactions == {"👍": [emulator.bot_user.id], "👀": []}
    assert [(r.emoji, r.added) for r in emulator.records.reactions] == [("👍", True), ("👀", True), ("👀", False)]
    async with channel.typing():
        pass
    assert [t.channel_id for t in emulator.records.typing] == [channel.id]


async def test_direct_messages(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    client = await client_factory()
    carol = await client.fetch_user(emulator.member("carol").id)
    await carol.send("a private note")
    assert emulator.messages(emulator.dm_channel(emulator.member("carol")))[0].content == "a private note"
    emulator.member("dave").user.dms_open = False
    dave = await client.fetch_user(emulator.member("dave").id)
    with pytest.raises(discord.Forbidden) as caught:
        await dave.send("closed")
    assert caught.value.code == 50007


async def test_a_user_reply_to_the_bot_references_and_pings_it(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    got: list[discord.Message] = []
    arrived = asyncio.Event()

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            if message.author != client.user:
                got.append(message)
                arrived.set()

    client: EmuClient = await client_factory(intents=discord.Intents.default(), setup=setup)
    bots = await _channel(client, emulator).send("question?")
    answer = await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "an answer",
                                         reply_to=emulator.core.records.messages[bots.id])
    await asyncio.wait_for(arrived.wait(), 5)
    message = got[0]
    assert message.id == answer.id and message.type is discord.MessageType.reply
    assert message.reference is not None and message.reference.message_id == bots.id
    assert client.user in message.mentions
    assert message.content == "an answer"  # visible without the intent: the reply pings the bot


async def test_the_bot_replies_with_a_reference(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    channel = _channel(await client_factory(), emulator)
    question = await emulator.send_message(emulator.member("carol"), emulator.channel("general"), "hi")
    original = await channel.fetch_message(question.id)
    await original.reply("hello", mention_author=False)
    answer = await emulator.wait_for_message(emulator.channel("general"))
    assert answer.reference == {"type": 0, "message_id": str(question.id), "channel_id": str(channel.id),
                                "guild_id": str(channel.guild.id)}
    assert answer.latest.mentions == []  # mention_author=False: carol was not pinged
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("to nothing", reference=discord.MessageReference(message_id=1, channel_id=channel.id))
    assert caught.value.code == 50035


async def test_json_content_type_is_exact_and_the_token_is_required(emulator: DiscordEmulator, raw: Any) -> None:
    status, body, response = await raw("GET", "/users/@me")
    assert status == 200 and response.headers["Content-Type"] == "application/json"
    assert body["id"] == str(emulator.bot_user.id)
    status, body, _ = await raw("GET", "/users/@me", auth=False)
    assert status == 401 and body == {"message": "401: Unauthorized", "code": 0}


async def test_an_unemulated_route_is_reported(emulator: DiscordEmulator, raw: Any) -> None:
    status, _, _ = await raw("GET", "/guilds/1/audit-logs")
    assert status == 404
    with pytest.raises(AssertionError, match="no route for GET /guilds/1/audit-logs"):
        emulator.check()
    emulator.records.problems.clear()


async def test_threads_and_deleted_channels(emulator: DiscordEmulator, client_factory: ClientFactory) -> None:
    got: list[discord.Message] = []

    def setup(client: discord.Client) -> None:
        @client.event
        async def on_message(message: discord.Message) -> None:
            got.append(message)

    client = await client_factory(setup=setup)
    thread_record = emulator.channel("general-thread")
    thread = client.get_channel(thread_record.id)
    assert isinstance(thread, discord.Thread) and thread.parent_id == emulator.channel("general").id
    await thread.send("in the thread")
    await emulator.send_message(emulator.member("carol"), thread_record, "me too")
    await emulator.wait_until(lambda: len(got) == 2, message="both thread messages")
    assert all(isinstance(m.channel, discord.Thread) for m in got)
    assert [m.content for m in emulator.messages(thread_record)] == ["in the thread", "me too"]

    extra = await emulator.add_channel("extra")
    await emulator.wait_until(lambda: client.get_channel(extra.id) is not None, message="CHANNEL_CREATE")
    channel = client.get_channel(extra.id)
    await emulator.delete_channel(extra)
    await emulator.wait_until(lambda: client.get_channel(extra.id) is None, message="CHANNEL_DELETE")
    with pytest.raises(discord.NotFound) as caught:
        await channel.send("anyone?")
    assert caught.value.code == 10003


async def test_a_repeated_nonce_returns_the_earlier_message(emulator: DiscordEmulator,
                                                            client_factory: ClientFactory) -> None:
    """discord.py sends enforce_nonce with a nonce: a repeat by the same author within minutes (a
    retried send, or another process delivering the same reminder) is the earlier message, not a new one."""
    client = await client_factory()
    general, other = _channel(client, emulator), _channel(client, emulator, "random")
    first = await general.send("tea time", nonce="r7.1800000000")
    again = await other.send("tea time (again)", nonce="r7.1800000000")
    assert again.id == first.id
    assert [m.content for m in emulator.bot_messages(emulator.channel("general"))] == ["tea time"]
    assert emulator.bot_messages(emulator.channel("random")) == []
    assert [m.id for m in emulator.records.nonce_repeats] == [first.id]
    different = await general.send("another", nonce="r8.1800000000")
    assert different.id != first.id
    emulator.clock.advance(301)  # "the past few minutes" are over
    later = await general.send("tea time", nonce="r7.1800000000")
    assert later.id != first.id
    plain = await general.send("no nonce twice")
    assert (await general.send("no nonce twice")).id != plain.id
