"""Builds every service once from settings, the shared HTTP session and the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from config.settings import Settings
from services.health.history import HealthHistory
from services.health.monitor import HealthMonitor, log_state_changes
from services.health.probes import build_probes
from services.llm import LLMRouter, UsageStore, build_router
from services.reminders import ReminderService
from services.search import SearchServices, build_search
from services.speech import STT, TTS, SpeechServices, VoiceConverter, build_speech
from services.storage import Cache, Database, HealthStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What cogs use; constructed without I/O, started and closed by the bot."""

    settings: Settings
    session: aiohttp.ClientSession
    db: Database
    cache: Cache = field(init=False)
    health: HealthStore = field(init=False)
    llm: LLMRouter = field(init=False)
    search: SearchServices = field(init=False)
    reminders: ReminderService = field(init=False)  # the cog starts/stops its scheduler
    speech: SpeechServices = field(init=False)  # also its probes() for the health monitor
    tts: TTS | None = field(init=False)  # None when not configured, like stt and rvc
    stt: STT | None = field(init=False)
    rvc: VoiceConverter | None = field(init=False)
    monitor: HealthMonitor = field(init=False)  # started by the admin cog, which adds the gateway probe

    def __post_init__(self) -> None:
        self.cache = Cache(self.db, max_entries=self.settings.api_cache_max_size)
        self.health = HealthStore(self.db)
        self.llm = build_router(self.settings, self.session, health=self.health, usage=UsageStore(self.db),
                                cache=self.cache)
        self.search = build_search(self.settings, self.session, self.cache, self.health)
        self.reminders = ReminderService.from_settings(self.db, self.settings)
        self.speech = build_speech(self.settings, self.session, self.health)
        self.tts, self.stt, self.rvc = self.speech.tts, self.speech.stt, self.speech.rvc
        self.health.add_listener(log_state_changes())
        self.monitor = HealthMonitor(
            self.health, HealthHistory(self.db),
            build_probes(llm=self.llm, search=self.search, speech=self.speech, db=self.db,
                         timeout=self.settings.health_probe_timeout),
            interval=self.settings.health_check_interval, timeout=self.settings.health_probe_timeout,
            history_days=self.settings.health_history_days)

    async def start(self) -> None:
        """Background work that needs a running loop (called from setup_hook)."""
        purged = await self.cache.purge_expired()
        if purged:
            log.info("Purged %d expired cache entries", purged)
        await self.llm.start()
        await self.speech.start()

    async def close(self) -> None:
        """Stop background work; the session and database are closed by their owner."""
        await self.monitor.stop()
        await self.search.close()
        await self.reminders.stop()
