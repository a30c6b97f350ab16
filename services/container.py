"""Builds every service and store once from settings, the shared HTTP session and the database backend.

Cogs take what they need from here; none builds a store or reads a setting-derived file itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from config.settings import Settings
from services.chat.context import ContextBuilder, load_system_prompt
from services.chat.memory import ConversationStore
from services.health.monitor import HealthMonitor, log_state_changes
from services.llm import LLMRouter, build_router
from services.probes import build_probes
from services.reminders import ReminderService
from services.search import SearchServices, build_search
from services.speech import STT, TTS, SpeechServices, VoiceConverter, build_speech
from services.storage import Cache, HealthStore
from services.storage.backend import Backend
from services.storage.coordination import Coordinator
from services.voice import GuildVoiceSettings, VoiceSettingsStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What cogs use; constructed without network I/O, started and closed by the bot.

    Background work has one owner each, the cog that gives it what only Discord has: the admin cog
    runs the health monitor (it adds the gateway probe and posts alerts), the reminders cog runs the
    reminder scheduler (it supplies the delivery). Neither is stopped here. The coordinator says
    whether this process leads the once-per-bot work and which shards' reminders it delivers.
    """

    settings: Settings
    session: aiohttp.ClientSession
    backend: Backend
    coordinator: Coordinator = field(init=False)
    cache: Cache = field(init=False)
    health: HealthStore = field(init=False)
    llm: LLMRouter = field(init=False)
    search: SearchServices = field(init=False)
    reminders: ReminderService = field(init=False)
    speech: SpeechServices = field(init=False)  # also its probes() for the health monitor
    tts: TTS | None = field(init=False)  # None when not configured, like stt and rvc
    stt: STT | None = field(init=False)
    rvc: VoiceConverter | None = field(init=False)
    system_prompt: str = field(init=False)  # CHAT_SYSTEM_PROMPT, or its file's text
    conversations: ConversationStore = field(init=False)
    chat_context: ContextBuilder = field(init=False)  # /chat, mentions
    voice_context: ContextBuilder = field(init=False)  # the same, with the spoken-answer suffix
    voice_settings: VoiceSettingsStore = field(init=False)
    monitor: HealthMonitor = field(init=False)  # run by the admin cog

    def __post_init__(self) -> None:
        s, backend = self.settings, self.backend
        self.coordinator = backend.coordinator(s.home_shards)
        self.cache = backend.cache(max_entries=s.api_cache_max_size)
        self.health = backend.health()
        self.llm = build_router(s, self.session, health=self.health, usage=backend.usage(), cache=self.cache)
        self.search = build_search(s, self.session, self.cache, self.health)
        self.reminders = ReminderService.from_settings(backend.reminders(), s, coordinator=self.coordinator)
        self.speech = build_speech(s, self.session, self.health)
        self.tts, self.stt, self.rvc = self.speech.tts, self.speech.stt, self.speech.rvc
        self.system_prompt = load_system_prompt(s.chat_system_prompt, s.chat_system_prompt_file)
        self.conversations = backend.conversations()
        self.chat_context = ContextBuilder(self.conversations, self.system_prompt, s.chat_context_tokens)
        self.voice_context = self.chat_context.for_voice()
        self.voice_settings = backend.voice_settings(GuildVoiceSettings(
            voice=s.kokoro_voice, speed=s.kokoro_speed, rvc=bool(s.rvc_model), listen=True))
        self.health.add_listener(log_state_changes())
        coordinator = self.coordinator
        self.monitor = HealthMonitor(
            self.health, backend.health_history(),
            build_probes(llm=self.llm, search=self.search, speech=self.speech, backend=backend,
                         timeout=s.health_probe_timeout),
            interval=s.health_check_interval, timeout=s.health_probe_timeout, history_days=s.health_history_days,
            leader=lambda: coordinator.is_leader, shared=backend.shared)

    async def start(self) -> None:
        """Hear the other processes, take part in coordination, restore saved state (setup_hook,
        before the cogs load)."""
        await self.backend.start()
        await self.coordinator.start()
        purged = await self.cache.purge_expired()
        if purged:
            log.info("Purged %d expired cache entries", purged)
        await self.llm.start()
        await self.speech.start()

    async def close(self) -> None:
        """Release what the services hold (leadership and shards go to the other processes at once);
        the session and database are closed by their owner (main)."""
        await self.search.close()
        await self.coordinator.close()
