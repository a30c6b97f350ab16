"""Images, text files, voice messages and reasoning through the real bot on the local Discord, both wire formats."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from devtools.discord_emulator import DiscordEmulator
from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from devtools.fakes.llm_server import FakeLLMServer, Reply
from devtools.fakes.search_servers import FakeSearchServers
from tests.e2e.chat_world import answer_to, last_user, png, start_bot, user_text, wav
from tests.e2e.conftest import WHISPER_MODEL

DIALECTS = ["ollama", "openai"]


@pytest.fixture
async def search() -> AsyncIterator[FakeSearchServers]:
    async with FakeSearchServers() as servers:
        yield servers


def sent_images(llm: FakeLLMServer) -> list[bytes]:
    """The images of the last user turn, decoded, in either dialect."""
    message = last_user(llm)
    if "images" in message:
        return [base64.b64decode(i) for i in message["images"]]
    parts = message["content"] if isinstance(message["content"], list) else []
    return [base64.b64decode(p["image_url"]["url"].split(",", 1)[1]) for p in parts if p["type"] == "image_url"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_an_image_reaches_a_vision_model(dialect, bot_factory, emulator: DiscordEmulator, llm, search):
    await start_bot(bot_factory, llm, search, dialect, model="llava" if dialect == "ollama" else None, vision=True)
    llm.queue(Reply(text="A red rectangle."))
    general = emulator.channel("general")
    big = png(size=(3000, 1000))  # over LLM_IMAGE_MAX_SIDE: scaled down before it is sent
    await emulator.send_message(emulator.member("carol"), general, "what is this?", mentions_bot=True,
                                files=[("photo.png", big, "image/png")])
    answer = await answer_to(emulator, general, "A red rectangle.")
    assert "cannot see" not in answer.content
    images = sent_images(llm)
    assert len(images) == 1
    with Image.open(io.BytesIO(images[0])) as seen:
        assert max(seen.size) == 1568 and seen.getpixel((10, 10))[0] > 150
    assert "what is this?" in user_text(last_user(llm))


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_model_that_cannot_see_gets_a_note_and_the_member_is_told(dialect, bot_factory, emulator, llm,
                                                                         search):
    await start_bot(bot_factory, llm, search, dialect, model="llama3.2" if dialect == "ollama"
                    else "meta-llama/llama-3.3-70b-instruct:free")
    llm.queue(Reply(text="I cannot see it."))
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("carol"), general, "describe it", mentions_bot=True,
                                files=[("cat.png", png(), "image/png")])
    answer = await answer_to(emulator, general, "not shown to it")
    assert answer.content.startswith("I cannot see it.")
    assert "cat.png" in answer.content
    assert sent_images(llm) == []
    assert "cannot see images" in user_text(last_user(llm))


async def test_an_image_in_the_replied_to_message_is_seen(bot_factory, emulator, llm, search):
    await start_bot(bot_factory, llm, search, "ollama", model="llava")
    general = emulator.channel("general")
    posted = await emulator.send_message(emulator.member("dave"), general, "look at my drawing",
                                         files=[("drawing.png", png((20, 200, 20)), "image/png")])
    llm.queue(Reply(text="Nice green drawing."))
    await emulator.send_message(emulator.member("carol"), general, "what colour is it?", mentions_bot=True,
                                reply_to=posted)
    await answer_to(emulator, general, "Nice green drawing.")
    assert len(sent_images(llm)) == 1


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_text_file_is_read_and_a_binary_one_skipped(dialect, bot_factory, emulator, llm, search):
    await start_bot(bot_factory, llm, search, dialect)
    llm.queue(Reply(text="The file defines main."))
    general = emulator.channel("general")
    code = "def main():\n    print('hello from the file')\n"
    await emulator.send_message(emulator.member("carol"), general, "review this", mentions_bot=True,
                                files=[("main.py", code.encode(), "text/x-python"),
                                       ("blob.bin", bytes(range(256)) * 4, "application/octet-stream")])
    answer = await answer_to(emulator, general, "Skipped blob.bin")
    assert answer.content.startswith("The file defines main.")
    prompt = user_text(last_user(llm))
    assert "attached file main.py" in prompt and "hello from the file" in prompt
    assert "blob.bin" not in prompt


async def test_a_voice_message_is_transcribed_and_answered(bot_factory, emulator, llm, search, whisper, piper_voice):
    await start_bot(bot_factory, llm, search, "ollama", whisper_api_url=whisper.url, whisper_model=WHISPER_MODEL)
    llm.queue(Reply(text="Paris is the capital."))
    audio = wav(b"".join(piper_sentences(piper_voice, "What is the capital of France?")), KOKORO_RATE)
    # A voice message carries no text and no mention: it is answered where every message is (a DM here).
    dm = emulator.dm_channel(emulator.member("carol"))
    await emulator.send_message(emulator.member("carol"), dm, "", files=[("voice-message.ogg", audio, "audio/ogg")],
                                voice_message=2.5)
    await answer_to(emulator, dm, "Paris is the capital.", timeout=60)
    prompt = user_text(last_user(llm)).lower()
    assert "[voice message voice-message.ogg]" in prompt and "capital of france" in prompt


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("mode", ["drop", "collapsed"])
async def test_reasoning_never_reaches_the_answer_or_memory(dialect, mode, bot_factory, emulator, llm, search):
    bot = await start_bot(bot_factory, llm, search, dialect, chat_reasoning=mode)
    llm.queue(Reply(reasoning="the user greets me so I should greet back secretly", text="Hello Carol!"))
    general = emulator.channel("general")
    await emulator.send_message(emulator.member("carol"), general, "hi", mentions_bot=True)
    answer = await answer_to(emulator, general, "Hello Carol!")
    content = answer.content
    if mode == "drop":
        assert "secretly" not in content
    else:
        await emulator.wait_until(lambda: "||" in answer.content, timeout=5, message="the folded thinking")
        content = answer.content
        assert content.startswith("Hello Carol!\n\n")
        assert "-# 💭 Thinking" in content and "||" in content.split("Thinking", 1)[1]
    for _ in range(100):  # stored just before the final edit
        turns = await bot.services.conversations.recent(general.id, 10_000)
        if any(t.role == "assistant" for t in turns):
            break
        await asyncio.sleep(0.05)
    assert [t.content for t in turns if t.role == "assistant"] == ["Hello Carol!"]
