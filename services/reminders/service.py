"""What the reminder commands do, minus Discord: validate, store, list, cancel, time zones.

The cog calls these and shows `str(error)` of any ReminderError as it is. Delivery needs Discord,
so the cog starts the scheduler with its deliver callable (`start`) and stops it (`stop`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import Settings
from services.reminders.errors import (
    BeyondHorizon,
    IntervalTooShort,
    InvalidText,
    ReminderNotFound,
    TimeInPast,
)
from services.reminders.humanize import format_duration
from services.reminders.models import ACTIVE, DeliveryResult, DueReminder, NewReminder, Reminder
from services.reminders.scheduler import Deliver, ReminderScheduler, SchedulerStats
from services.reminders.store import ReminderStore
from services.reminders.timeparse import ParsedTime, examples, parse_time
from services.reminders.zones import TimeZones
from services.storage.coordination import Coordinator

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1_000
PAGE_SIZE = 10
CLAIM_AHEAD = 0.1  # seconds: the scheduler claims due reminders this early, then delivers each on time


@dataclass(frozen=True)
class ReminderPage:
    items: list[Reminder]
    page: int  # 1-based
    pages: int
    total: int


class ReminderService:
    """One per bot; holds no reminders in memory, only the store and (while started) the scheduler.

    With a coordinator (several processes), the scheduler delivers only the shards this process
    holds, and is woken by reminders other processes add for them.
    """

    def __init__(self, store: ReminderStore, *, default_tz: str = "UTC", max_horizon_days: int = 365,
                 min_interval: float = 300.0, max_per_user: int = 25, max_attempts: int = 5,
                 history_days: float = 30.0, clock: Callable[[], float] = time.time,
                 coordinator: Coordinator | None = None, **scheduler_options: Any) -> None:
        self.store = store
        self.coordinator = coordinator
        self.zones = TimeZones()
        self.default_tz = default_tz
        self.max_horizon = max_horizon_days * 86_400.0
        self.min_interval = min_interval
        self.max_per_user = max_per_user
        self.max_attempts = max_attempts
        self.history_days = history_days
        self._clock = clock
        self._scheduler_options = scheduler_options  # clock/sleep fakes and tuning, for tests and benchmarks
        self.scheduler: ReminderScheduler | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._delivered: list[Callable[[float], object]] = []

    def on_delivered(self, observer: Callable[[float], object]) -> None:
        """Called with how late (seconds) each delivered reminder was (metrics); must not block or raise."""
        self._delivered.append(observer)

    @classmethod
    def from_settings(cls, store: ReminderStore, settings: Settings, *,
                      coordinator: Coordinator | None = None) -> ReminderService:
        return cls(store, default_tz=settings.reminder_default_tz, max_horizon_days=settings.reminder_max_horizon_days,
                   min_interval=settings.reminder_min_interval, max_per_user=settings.reminder_max_per_user,
                   max_attempts=settings.reminder_max_attempts, history_days=settings.reminder_history_days,
                   coordinator=coordinator, lease=settings.reminder_claim_lease, lookahead=CLAIM_AHEAD)

    # --- scheduler (cog_load / cog_unload) ---------------------------------------------------

    def start(self, deliver: Deliver) -> ReminderScheduler:
        """Start delivering through `deliver`; overdue reminders from before a restart go out at once."""
        if self.scheduler is not None and self.scheduler.running:
            raise RuntimeError("the reminder scheduler is already running")
        coordinator = self.coordinator
        options = dict(self._scheduler_options)
        if coordinator is not None:
            options["shards"] = lambda: coordinator.shards

        async def observed(due: DueReminder) -> DeliveryResult:
            result = await deliver(due)
            if result.delivered:
                for observer in self._delivered:
                    observer(due.late_by)
            return result

        scheduler = ReminderScheduler(self.store, observed, max_attempts=self.max_attempts, clock=self._clock,
                                      **options)
        self.scheduler = scheduler

        def added_elsewhere(due_at: float | None, guild_id: int | None) -> None:
            if due_at is None or coordinator is None or coordinator.shards.owns(guild_id):
                scheduler.notify(due_at)

        self._unsubscribe = [self.store.subscribe(added_elsewhere)]
        if coordinator is not None:  # a shard adopted or given back: re-read the next due time
            self._unsubscribe.append(coordinator.on_change(scheduler.notify))
        scheduler.start()
        return scheduler

    async def stop(self) -> None:
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe = []
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None

    async def prune_finished(self) -> int:
        """Forget reminders delivered, failed or cancelled more than `history_days` ago (pending ones stay)."""
        return await self.store.prune_finished(self._clock() - self.history_days * 86_400.0)

    def stats(self) -> SchedulerStats | None:
        return self.scheduler.stats() if self.scheduler is not None else None

    # --- time zones --------------------------------------------------------------------------

    async def timezone_of(self, user_id: int) -> ZoneInfo:
        stored = await self.store.get_timezone(user_id)
        return ZoneInfo(stored or self.default_tz)

    async def set_timezone(self, user_id: int, name: str) -> ZoneInfo:
        zone = self.zones.resolve(name)
        await self.store.set_timezone(user_id, zone.key)
        return zone

    def timezone_choices(self, typed: str) -> list[str]:
        return self.zones.suggest(typed)

    # --- reminders ---------------------------------------------------------------------------

    def parse(self, when: str, tz: ZoneInfo) -> ParsedTime:
        """Parse and check a time without storing anything (ParseError, TimeInPast, ...)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        parsed = parse_time(when, now, tz)
        self._check_time(parsed, now, tz)
        return parsed

    async def create(self, *, owner_id: int, guild_id: int | None, channel_id: int | None, when: str,
                     text: str, dm: bool = False) -> Reminder:
        """Validate and store; the scheduler is told so a sooner reminder wakes it."""
        text = text.strip()
        if not text:
            raise InvalidText("Tell me what to remind you about.")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidText(f"That reminder is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
        tz = await self.timezone_of(owner_id)
        parsed = self.parse(when, tz)
        reminder = await self.store.add(NewReminder(
            owner_id=owner_id, guild_id=guild_id, channel_id=channel_id, dm=dm, text=text,
            due_at=parsed.first_due.timestamp(), recurrence=parsed.recurrence, tz=tz.key,
        ), max_pending=self.max_per_user)
        log.info("Reminder %d set by %d for %s", reminder.id, owner_id, parsed.first_due.isoformat())
        if self.scheduler is not None:
            self.scheduler.notify(reminder.due_at)
        return reminder

    def _check_time(self, parsed: ParsedTime, now: datetime, tz: ZoneInfo) -> None:
        local = parsed.first_due.astimezone(tz)
        if parsed.first_due <= now:
            raise TimeInPast(f"{local:%Y-%m-%d %H:%M} ({tz.key}) is already past; pick a time after now. "
                             + examples(now.astimezone(tz)))
        ahead = (parsed.first_due - now).total_seconds()
        if ahead > self.max_horizon:
            days = int(self.max_horizon // 86_400)
            raise BeyondHorizon(f"{local:%Y-%m-%d %H:%M} is {math.ceil(ahead / 86_400):,} days away; "
                                f"reminders can be set at most {days:,} days ahead.")
        rule = parsed.recurrence
        if rule is not None and rule.min_gap < self.min_interval:
            raise IntervalTooShort(f"That repeats {rule.describe()}; the shortest repeat allowed is every "
                                   f"{format_duration(self.min_interval)}.")

    async def list_pending(self, owner_id: int, *, page: int = 1, per_page: int = PAGE_SIZE) -> ReminderPage:
        total = await self.store.count_pending(owner_id)
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        items = await self.store.list_pending(owner_id, limit=per_page, offset=(page - 1) * per_page)
        return ReminderPage(items, page, pages, total)

    async def cancel(self, reminder_id: int, *, requester_id: int, guild_id: int | None = None,
                     can_manage_guild: bool = False) -> Reminder:
        """Cancel one's own reminder, or (with Manage Server, passed in by the cog) a channel reminder in that
        guild. Someone's DM reminder is theirs alone: to anyone else it does not exist."""
        reminder = await self.store.get(reminder_id)
        allowed = reminder is not None and (
            reminder.owner_id == requester_id
            or (can_manage_guild and guild_id is not None and reminder.guild_id == guild_id and not reminder.dm))
        if reminder is None or not allowed:
            raise ReminderNotFound(f"You have no reminder #{reminder_id} to cancel; /reminders lists yours.")
        if reminder.state not in ACTIVE or not await self.store.cancel(reminder_id):
            current = await self.store.get(reminder_id)
            state = current.state if current else reminder.state
            raise ReminderNotFound(f"Reminder #{reminder_id} is no longer pending (it was {state}).")
        log.info("Reminder %d cancelled by %d", reminder_id, requester_id)
        if self.scheduler is not None:
            self.scheduler.notify(reminder.due_at)
        return await self.store.get(reminder_id) or reminder

    async def cancel_in_guild(self, owner_id: int, guild_id: int, reason: str) -> list[Reminder]:
        """The owner left the server or was banned: nothing they set there is delivered any more."""
        cancelled = await self.store.cancel_in_guild(owner_id, guild_id, reason)
        if cancelled:
            log.info("Cancelled %d reminder(s) of %d in guild %d: %s", len(cancelled), owner_id, guild_id, reason)
            if self.scheduler is not None:
                self.scheduler.notify(min(r.due_at for r in cancelled))
        return cancelled

    async def count_all(self, owner_id: int) -> int:
        return await self.store.count_all(owner_id)

    async def forget_owner(self, owner_id: int) -> int:
        """/forget-me, confirmed: every reminder of theirs (pending or finished) and their time zone."""
        removed = await self.store.delete_owner(owner_id)
        log.info("Erased %d reminder(s) of %d at their request", removed, owner_id)
        if removed and self.scheduler is not None:
            self.scheduler.notify()
        return removed
