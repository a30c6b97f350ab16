"""Builds every service and store once from settings, the shared HTTP session and the database backend.

Cogs take what they need from here; none builds a store or reads a setting-derived file itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from config.settings import Settings
from services.chat.attachments import AttachmentReader
from services.chat.context import ContextBuilder, load_system_prompt
from services.chat.memory import ConversationStore
from services.chat.ordering import ConversationOrder
from services.chat.profiles import ChatProfileStore
from services.chat.turn import ChatTurns
from services.health.monitor import HealthMonitor, log_state_changes
from services.limits import MemberBuckets, MemberLimits, TokenQuotas
from services.llm import LLMRouter, build_router
from services.llm.capabilities import ModelCapabilities
from services.llm.factory import build_chain
from services.metrics import Metrics
from services.probes import build_probes
from services.reminders import ReminderService
from services.search import SearchServices, build_search
from services.speech import STT, TTS, SpeechServices, VoiceConverter, build_speech
from services.storage import Cache, HealthStore, ServiceHealth
from services.storage.backend import Backend
from services.storage.coordination import Coordinator
from services.tools import ToolLoop, ToolRegistry, build_tools
from services.voice import GuildVoiceSettings, VoiceOptOutStore, VoiceSettingsStore
from services.web import PageFetcher

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
    limits: MemberLimits = field(init=False)  # the per-member rate limit and daily token quotas
    llm: LLMRouter = field(init=False)
    search: SearchServices = field(init=False)
    reminders: ReminderService = field(init=False)
    speech: SpeechServices = field(init=False)  # also its probes() for the health monitor
    tts: TTS | None = field(init=False)  # None when not configured, like stt and rvc
    stt: STT | None = field(init=False)
    rvc: VoiceConverter | None = field(init=False)
    system_prompt: str = field(init=False)  # CHAT_SYSTEM_PROMPT, or its file's text
    conversations: ConversationStore = field(init=False)
    chat_order: ConversationOrder = field(init=False)  # which prompts of a channel may be answered now
    chat_context: ContextBuilder = field(init=False)  # /chat, mentions
    voice_context: ContextBuilder = field(init=False)  # the same, with the spoken-answer suffix
    voice_settings: VoiceSettingsStore = field(init=False)
    voice_optouts: VoiceOptOutStore = field(init=False)  # members who will not be heard in voice
    monitor: HealthMonitor = field(init=False)  # run by the admin cog
    metrics: Metrics = field(init=False)  # served by the metrics cog when METRICS_PORT is set
    page_fetcher: PageFetcher = field(init=False)  # read_url's own session (public addresses only)
    tools: ToolRegistry = field(init=False)
    capabilities: ModelCapabilities = field(init=False)  # vision and tools per model
    attachments: AttachmentReader = field(init=False)
    profiles: ChatProfileStore = field(init=False)  # /persona and /model
    chat_turns: ChatTurns = field(init=False)  # one chat turn: attachments, persona, tools, memory

    def __post_init__(self) -> None:
        s, backend = self.settings, self.backend
        self.coordinator = backend.coordinator(s.home_shards)
        self.cache = backend.cache(max_entries=s.api_cache_max_size)
        self.health = backend.health()
        per_minute, burst = s.member_rate()
        self.limits = MemberLimits(MemberBuckets(per_minute, burst), TokenQuotas(
            backend.quotas(), member_limit=s.member_daily_tokens, server_limit=s.server_daily_tokens))
        self.llm = build_router(s, self.session, health=self.health, usage=backend.usage(), cache=self.cache,
                                quotas=self.limits.quotas)
        self.search = build_search(s, self.session, self.cache, self.health)
        self.reminders = ReminderService.from_settings(backend.reminders(), s, coordinator=self.coordinator)
        self.speech = build_speech(s, self.session, self.health)
        self.tts, self.stt, self.rvc = self.speech.tts, self.speech.stt, self.speech.rvc
        self.system_prompt = load_system_prompt(s.chat_system_prompt, s.chat_system_prompt_file)
        self.conversations = backend.conversations()
        self.chat_order = ConversationOrder(s.chat_channel_concurrency)
        self.chat_context = ContextBuilder(self.conversations, self.system_prompt, s.chat_context_tokens)
        self.voice_context = self.chat_context.for_voice()
        self.voice_settings = backend.voice_settings(GuildVoiceSettings(
            voice=s.kokoro_voice, speed=s.kokoro_speed, rvc=bool(s.rvc_model), listen=True))
        self.voice_optouts = backend.voice_optouts()
        self.health.add_listener(log_state_changes())
        coordinator = self.coordinator
        self.metrics = self._watched(Metrics())
        self.monitor = HealthMonitor(
            self.health, backend.health_history(),
            build_probes(llm=self.llm, search=self.search, speech=self.speech, backend=backend,
                         timeout=s.health_probe_timeout),
            interval=s.health_check_interval, timeout=s.health_probe_timeout, history_days=s.health_history_days,
            leader=lambda: coordinator.is_leader, shared=backend.shared)
        self.page_fetcher = PageFetcher(timeout=s.read_url_timeout, max_bytes=s.read_url_max_bytes,
                                        max_chars=s.read_url_max_chars, user_agent=s.search_user_agent)
        self.tools = build_tools(search=self.search, reminders=self.reminders, fetcher=self.page_fetcher,
                                 timeout=max(s.read_url_timeout, s.web_search_timeout) + 5)
        self.capabilities = ModelCapabilities(self.llm.providers, tools_enabled=s.llm_tools == "auto",
                                              tool_models=s.llm_tool_models, vision_models=s.llm_vision_models,
                                              timeout=s.health_probe_timeout)
        self.attachments = AttachmentReader(
            self.session, stt=self.stt, max_bytes=s.attachment_max_bytes, max_files=s.attachment_max_files,
            text_chars=s.attachment_text_chars, image_max_side=s.llm_image_max_side,
            image_max_bytes=s.llm_image_max_bytes, voice_max_seconds=s.voice_message_max_seconds,
            timeout=s.api_request_timeout)
        self.profiles = backend.chat_profiles(default_persona=self.system_prompt, default_chain=build_chain(s),
                                              providers=list(self.llm.providers))
        self.chat_turns = ChatTurns(context=self.chat_context, voice_context=self.voice_context,
                                    loop=ToolLoop(self.llm, self.tools, max_rounds=s.llm_tool_max_rounds),
                                    attachments=self.attachments, capabilities=self.capabilities,
                                    profiles=self.profiles)

    def _watched(self, metrics: Metrics) -> Metrics:
        """Point the metrics at the counters and states the services already keep."""
        breakers = [*self.llm.breakers.values(), *(c.guard.breaker for c in (self.tts, self.stt, self.rvc)
                                                     if c is not None and c.guard.breaker is not None)]
        metrics.watch_cache(lambda: (self.cache.hits, self.cache.misses))
        metrics.watch_circuits(lambda: {b.service: b.state for b in breakers})
        for name, gate in self.llm.gates.items():
            metrics.watch_queue(f"llm:{name}", lambda gate=gate: gate.waiting)
        metrics.watch_queue(self.search.web.service, lambda: self.search.web.limiter.waiting)

        async def status(old: object, new: ServiceHealth) -> None:
            metrics.service(new.service, new.status)

        self.health.add_listener(status)
        self.reminders.on_delivered(metrics.reminder_delivered)
        self.llm.add_observer(lambda r: metrics.llm_result(
            r.provider, ttft_s=r.ttft_ms / 1000 if r.ttft_ms is not None else None,
            prompt_tokens=r.usage.prompt_tokens, completion_tokens=r.usage.completion_tokens, cached=r.cached))
        return metrics

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
        await self.page_fetcher.close()
