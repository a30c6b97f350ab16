"""Durations in words, for confirmations, recurrence descriptions and "this is late" notes."""

from __future__ import annotations

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))

# Deliveries later than this get a note saying how late (the bot was down or Discord was slow).
LATE_NOTE_THRESHOLD = 60.0


def format_duration(seconds: float, *, parts: int = 2) -> str:
    """'2 hours 30 minutes'; the largest `parts` non-zero units, rounded to whole seconds."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0 seconds"
    words = []
    for name, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            words.append(f"{count} {name}{'' if count == 1 else 's'}")
        elif words:
            # Stop at the first gap: "1 day 0 hours 5 minutes" reads worse than "1 day".
            break
        if len(words) == parts:
            break
    return " ".join(words)


def lateness_note(late_by: float, *, threshold: float = LATE_NOTE_THRESHOLD) -> str | None:
    """What a late delivery should say, or None when it is on time."""
    if late_by < threshold:
        return None
    return f"(This reminder is {format_duration(late_by)} late: the bot was offline or could not deliver it then.)"
