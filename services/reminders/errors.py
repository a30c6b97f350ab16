"""Why a reminder request was refused, in words the cog can show the user as they are.

These are not ServiceErrors: nothing external failed, the request itself cannot be done.
"""

from __future__ import annotations


class ReminderError(Exception):
    """A refused request; str(error) is a complete, user-facing sentence."""


class ParseError(ReminderError):
    """The time expression could not be read; the message includes examples that work."""


class TimeInPast(ReminderError):
    pass


class BeyondHorizon(ReminderError):
    pass


class IntervalTooShort(ReminderError):
    pass


class InvalidText(ReminderError):
    """Empty, or longer than the limit."""


class TooManyReminders(ReminderError):
    pass


class ReminderNotFound(ReminderError):
    """No such pending reminder that this user may touch (others' reminders look the same)."""


class UnknownTimezone(ReminderError):
    pass
