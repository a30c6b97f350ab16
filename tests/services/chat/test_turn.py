"""A chat turn below Discord: persona per channel, attachments read, images only for vision models,
tools only for tool models, and memory that keeps the answer but never its thinking."""

from __future__ import annotations

from config.settings import ModelRef
from devtools.fakes.llm_server import Reply
from services.chat.attachments import AttachmentReader, AttachmentRef
from services.chat.context import ContextBuilder, Prompt
from services.chat.turn import ChatTurns, TurnRequest
from services.llm.capabilities import ModelCapabilities
from services.storage.sqlite.conversations import SqliteConversationStore
from services.storage.sqlite.profiles import SqliteChatProfileStore
from services.tools import AnswerDone
from tests.services.tools.conftest import ToolWorld, site, world  # noqa: F401  (fixtures)


def turns(world: ToolWorld, db, session, chain: ModelRef) -> ChatTurns:  # noqa: F811
    context = ContextBuilder(SqliteConversationStore(db), "Default prompt.", 3000)
    profiles = SqliteChatProfileStore(db, default_persona="Default prompt.", default_chain=(chain,),
                                providers=list(world.router.providers))
    return ChatTurns(context=context, voice_context=context.for_voice(), loop=world.loop,
                     attachments=AttachmentReader(session), capabilities=ModelCapabilities(world.router.providers),
                     profiles=profiles)


async def test_a_turn_uses_the_channel_persona_and_remembers_no_thinking(world, db, session):  # noqa: F811
    provider, model = world.router.config.chain[0]
    chat = turns(world, db, session, ModelRef(provider, model))
    await chat.profiles.set_persona("channel", 700, 1, "You are a pirate.", by=9)
    world.llm.queue(Reply(reasoning="They greet me.", text="Ahoy!"))
    turn = await chat.prepare(TurnRequest(700, Prompt("hello", "Ann", 42), 1, (700,)))
    assert turn.messages[0].content.startswith("You are a pirate.")
    assert turn.tools == (() if provider == "openai" else tuple(world.loop.registry.names))  # openai reports nothing
    events = [e async for e in chat.answer(turn)]
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.text == "Ahoy!" and done.reasoning == "They greet me."
    await chat.remember(turn, done)
    rows = await db.fetchall("SELECT role, content FROM conversation_turns ORDER BY id")
    assert [tuple(r) for r in rows] == [("user", "hello"), ("assistant", "Ahoy!")]


async def test_an_image_for_a_model_that_cannot_see_becomes_a_note(world, db, session):  # noqa: F811
    provider, model = world.router.config.chain[0]
    chat = turns(world, db, session, ModelRef(provider, model))
    world.site.hits.clear()
    world.llm.queue(Reply(text="I cannot see it."))
    ref = AttachmentRef("cat.png", f"{world.page_url}/article", 100, "image/png")
    turn = await chat.prepare(TurnRequest(700, Prompt("what is this?", "Ann", 42), 1, (700,), attachments=[ref]))
    assert turn.notices == ["This model cannot see images, so cat.png was not shown to it."]
    assert turn.messages[-1].images == () and "cannot see images" in turn.messages[-1].content
    assert world.site.hits == []  # an image the model cannot see is not even downloaded
    [_ async for _ in chat.answer(turn)]
    sent = world.llm.chat_requests[-1].json["messages"][-1]
    assert "images" not in sent and "cannot see images" in str(sent["content"])
