"""What the conversation tests share: the real LLM router, chat turns (tools, persona, memory) and speech
clients against local servers speaking Ollama's, Kokoro's and Whisper's wire formats; a test player drains
the queue at 10x real time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from config.settings import load_settings
from devtools.fakes.llm_server import FakeLLMServer
from devtools.fakes.speech_servers import FakeKokoro, FakeOpenAIWhisper
from devtools.testenv import bot_test_env
from discord_ui.turns import effect_line
from services.chat.attachments import AttachmentReader
from services.chat.context import ContextBuilder
from services.chat.memory import MessageRef
from services.chat.turn import ChatTurns
from services.limits import MemberLimits
from services.llm import build_router
from services.llm.capabilities import ModelCapabilities
from services.llm.factory import build_chain
from services.reminders import ReminderService
from services.search import SearchServices, build_search
from services.speech import build_speech
from services.storage import Database
from services.storage.backend import SqliteBackend
from services.tools import ToolLoop, build_tools
from services.voice import GuildVoiceSettings, PcmQueue, Speaker, Utterance, VoiceConversation
from services.web import PageFetcher

SCOPE = 900
ALICE = Speaker(1, "alice")
BOB = Speaker(2, "bob")
MUTED = Speaker(3, "mo")  # may not post in the call's chat
GS = GuildVoiceSettings(voice="af_heart", speed=1.0, rvc=False, listen=True)


@dataclass
class Player:
    """Output: records posts; 'plays' the queue 10x faster than real time on the loop."""

    queue: PcmQueue | None = None
    posts: list[str] = field(default_factory=list)
    in_flight_at_first_play: list[int] = field(default_factory=list)
    llm: FakeLLMServer | None = None
    task: asyncio.Task[None] | None = None

    async def post(self, text: str) -> MessageRef:
        self.posts.append(text)
        return MessageRef(channel_id=SCOPE, message_id=len(self.posts))

    def channel_ids(self) -> tuple[int, ...]:
        return (SCOPE, SCOPE + 1)  # the call's chat, then the voice channel

    def may_post(self, user_id: int) -> bool:
        return user_id != MUTED.user_id

    def confirmation(self, effect: object) -> str | None:
        return effect_line(effect)

    def start_playback(self) -> None:
        if self.llm is not None and not self.in_flight_at_first_play:
            self.in_flight_at_first_play.append(self.llm.in_flight)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._play())

    async def _play(self) -> None:
        assert self.queue is not None
        while self.queue.read():  # noqa: ASYNC110 - paces a player (10x real time), waits on nothing
            await asyncio.sleep(0.002)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeLLMServer, FakeKokoro, FakeOpenAIWhisper]]:
    llm = FakeLLMServer()
    await llm.start()
    async with FakeKokoro() as kokoro, FakeOpenAIWhisper(("What is the capital of France?",)) as whisper:
        yield llm, kokoro, whisper
    await llm.close()


@pytest.fixture
def observed() -> list[Mapping[str, float | None]]:
    """The stage times each conversation reports (what the bot hands to its metrics)."""
    return []


@pytest.fixture
def reminders(db: Database) -> ReminderService:
    return ReminderService(SqliteBackend(db).reminders())


@pytest.fixture
async def make(tmp_path: Path, servers, db, reminders, observed):  # type: ignore[no-untyped-def]
    llm_server, kokoro, whisper = servers
    session = aiohttp.ClientSession()
    made: list[Player] = []
    searches: list[SearchServices] = []
    fetcher = PageFetcher(timeout=3)

    def build(*, tts_url: str | None = None, stt_url: str | None = None, rvc_url: str = "",
              limits: MemberLimits | None = None, **env_overrides: str) -> tuple[VoiceConversation, Player]:
        env = {**bot_test_env(tmp_path / "c.db"), "OLLAMA_HOST": llm_server.url, "OLLAMA_MODEL": "llama3.2:latest",
               "KOKORO_API_URL": tts_url or kokoro.url, "WHISPER_API_URL": stt_url or whisper.url,
               "RVC_API_URL": rvc_url, "RVC_MODEL": "alice", **env_overrides}
        settings = load_settings(env, require_token=False)
        backend = SqliteBackend(db)
        health = backend.health()
        router = build_router(settings, session, health=health, usage=backend.usage(),
                              quotas=limits.quotas if limits is not None else None)
        speech = build_speech(settings, session, None)
        player = Player(llm=llm_server)
        queue = PcmQueue(asyncio.get_running_loop())
        player.queue = queue
        made.append(player)
        context = ContextBuilder(backend.conversations(), "Be brief.", 3000)
        search = build_search(settings, session, backend.cache(), health)
        searches.append(search)
        tools = build_tools(search=search, reminders=reminders, fetcher=fetcher)
        turns = ChatTurns(context=context, voice_context=context.for_voice(), loop=ToolLoop(router, tools),
                          attachments=AttachmentReader(session), capabilities=ModelCapabilities(
                              router.providers, tools_enabled=settings.llm_tools == "auto"),
                          profiles=backend.chat_profiles(default_persona="Be brief.", default_chain=build_chain(settings),
                                                    providers=list(router.providers)))
        return VoiceConversation(turns=turns, tts=speech.tts, stt=speech.stt, rvc=speech.rvc, queue=queue,
                                 output=player, limits=limits, guild_id=7, observe=observed.append), player

    yield build
    await fetcher.close()
    for search in searches:
        await search.close()
    for player in made:
        if player.task is not None:
            player.task.cancel()
    await session.close()


def utterance() -> Utterance:
    t = np.arange(48_000) / 48_000
    mono = (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2")
    return Utterance(np.repeat(mono, 2).tobytes(), 0.0, 1.0, 1.6)


