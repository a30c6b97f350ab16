"""Attachments read for the model: text files with their names, images sized for vision models (or a
note when the model cannot see), voice messages transcribed by the real Whisper engine, the rest
named and skipped; every skip and cut told to the member."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from PIL import Image

from devtools.fakes.engines import KOKORO_RATE, WhisperEngineServer, piper_sentences
from services.chat.attachments import AttachmentReader, AttachmentRef
from services.speech.whisper_openai import OpenAIWhisperSTT


class Files:
    """Discord's CDN, played by a local server: path -> bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.url = ""

    def ref(self, name: str, data: bytes, content_type: str | None = None, **kwargs) -> AttachmentRef:
        self.files[name] = data
        return AttachmentRef(name, f"{self.url}/attachments/{name}", len(data), content_type, **kwargs)

    async def handle(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404, text="Not Found")


@pytest.fixture
async def cdn() -> AsyncIterator[Files]:
    files = Files()
    app = web.Application()
    app.router.add_get("/attachments/{name}", files.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    files.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield files
    await runner.cleanup()


def image_bytes(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert(mode).save(out, fmt)
    return out.getvalue()


async def test_text_and_code_files_are_added_with_their_names(session, cdn):
    reader = AttachmentReader(session, text_chars=50, max_files=6)
    refs = [cdn.ref("notes.md", b"# Plan\nBuy milk.", "text/markdown; charset=utf-8"),
            cdn.ref("main.py", b"print('hi')\n"),
            cdn.ref("long.txt", ("word " * 100).encode()),
            cdn.ref("report.pdf", b"%PDF-1.7 ...", "application/pdf"),
            cdn.ref("data.txt", b"\x00\x01\x02binary"),
            cdn.ref("latin.csv", "caf\xe9,1".encode("latin-1"))]
    got = await reader.read(refs, vision=False)
    prompt = got.prompt("Summarize these")
    assert prompt.startswith("Summarize these\n\n----- attached file notes.md -----\n# Plan\nBuy milk.\n")
    assert "----- attached file main.py -----\nprint('hi')" in prompt
    assert "----- attached file long.txt (cut short) -----" in prompt
    assert got.notices == ["long.txt was cut to its first 50 characters.",
                           "Skipped report.pdf: .pdf files are not read (text, code, images and voice messages are)",
                           "Skipped data.txt: it is not a text file (binary data)",
                           "Skipped latin.csv: it is not UTF-8 text"]
    assert got.member_words("Summarize these") == "Summarize these"  # files are not the member's own words


async def test_images_are_scaled_for_vision_models_and_named_for_others(session, cdn):
    reader = AttachmentReader(session, image_max_side=512, image_max_bytes=60_000)
    big = cdn.ref("photo.png", image_bytes((2000, 1500)), "image/png")
    small = cdn.ref("icon.jpg", image_bytes((64, 64), "JPEG"), "image/jpeg")
    broken = cdn.ref("fake.png", b"\x89PNG not really", "image/png")
    got = await reader.read([big, small, broken], vision=True)
    scaled, kept = got.images
    with Image.open(io.BytesIO(scaled.data)) as image:
        assert max(image.size) <= 512 and len(scaled.data) <= 60_000 and scaled.media_type == "image/jpeg"
    assert kept.data == cdn.files["icon.jpg"] and kept.media_type == "image/jpeg"  # already fit: as sent
    assert got.notices == ["Skipped fake.png: not an image that can be read (UnidentifiedImageError)"]

    blind = await AttachmentReader(session).read([big, small], vision=False)
    assert blind.images == [] and blind.unseen_images == ["photo.png", "icon.jpg"]
    assert "this model cannot see images" in blind.prompt("what is this?")
    assert blind.notices == ["This model cannot see images, so photo.png, icon.jpg were not shown to it."]


async def test_oversize_and_missing_files_are_skipped_with_a_reason(session, cdn):
    reader = AttachmentReader(session, max_bytes=10_000, max_files=2)
    huge = cdn.ref("huge.png", image_bytes((300, 300)), "image/png")
    gone = AttachmentRef("gone.txt", f"{cdn.url}/attachments/gone.txt", 10)
    extra = cdn.ref("extra.txt", b"x")
    got = await reader.read([huge, gone, extra], vision=True)
    assert got.notices[0] == "Skipped extra.txt: only the first 2 attachments are read."
    assert got.notices[1] == "Skipped huge.png: it is larger than 0.01 MB"
    assert got.notices[2].startswith("Skipped gone.txt: it could not be downloaded (Not Found")


async def test_a_voice_message_is_transcribed_by_the_whisper_engine(session, cdn, piper_voice, whisper_model):
    pcm = b"".join(piper_sentences(piper_voice, "Remind me to water the garden tomorrow morning."))
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(KOKORO_RATE), "-ac", "1",
        "-i", "pipe:0", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    ogg, _ = await process.communicate(pcm)
    assert ogg.startswith(b"OggS")
    async with WhisperEngineServer(whisper_model) as stt_server:
        stt = OpenAIWhisperSTT(session, stt_server.url, model=stt_server.model_name, language="en", timeout=60)
        reader = AttachmentReader(session, stt=stt)
        note = cdn.ref("voice-message.ogg", ogg, "audio/ogg", voice_message=True, duration=3.0)
        got = await reader.read([note, cdn.ref("junk.ogg", b"OggS garbage", "audio/ogg")], vision=False)
    [(name, said)] = got.transcripts
    heard = set(re.findall(r"[a-z]+", said.lower()))
    assert name == "voice-message.ogg" and len(heard & {"remind", "water", "garden", "tomorrow", "morning"}) >= 4
    assert got.member_words("") == said  # a voice message is the member's own words
    assert got.prompt("").startswith("[Voice message voice-message.ogg]: ")
    assert got.notices[0].startswith("Skipped junk.ogg: not audio ffmpeg can read")


async def test_voice_messages_without_speech_to_text_are_skipped_honestly(session, cdn):
    got = await AttachmentReader(session, stt=None).read(
        [cdn.ref("voice-message.ogg", b"OggS", "audio/ogg", voice_message=True)], vision=False)
    assert got.notices == ["Skipped voice-message.ogg: voice messages cannot be transcribed: "
                           "speech-to-text is not set up on this bot"]
