"""Reminders: time parsing, SQLite store, one scheduler task; the Discord part lives in cogs/reminders.py."""

from services.reminders.errors import (
    BeyondHorizon,
    IntervalTooShort,
    InvalidText,
    ParseError,
    ReminderError,
    ReminderNotFound,
    TimeInPast,
    TooManyReminders,
    UnknownTimezone,
)
from services.reminders.humanize import format_duration, lateness_note
from services.reminders.models import DeliveryResult, DueReminder, Reminder
from services.reminders.recurrence import Recurrence
from services.reminders.scheduler import ReminderScheduler, SchedulerStats
from services.reminders.service import MAX_TEXT_CHARS, ReminderPage, ReminderService
from services.reminders.store import ReminderStore
from services.reminders.timeparse import ParsedTime, parse_time

__all__ = [
    "MAX_TEXT_CHARS", "BeyondHorizon", "DeliveryResult", "DueReminder", "IntervalTooShort", "InvalidText",
    "ParseError", "ParsedTime", "Recurrence", "Reminder", "ReminderError", "ReminderNotFound", "ReminderPage",
    "ReminderScheduler", "ReminderService", "ReminderStore", "SchedulerStats", "TimeInPast", "TooManyReminders",
    "UnknownTimezone", "format_duration", "lateness_note", "parse_time",
]
