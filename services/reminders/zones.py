"""IANA time-zone names: validation and /timezone autocomplete."""

from __future__ import annotations

import difflib
import zoneinfo
from functools import cached_property

from services.reminders.errors import UnknownTimezone

AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices
_NOT_ZONES = {"localtime", "Factory", "posixrules"}  # files in some zone folders, not places


class TimeZones:
    """Loads the zone list on first use (it reads tzdata from disk), not at import."""

    @cached_property
    def _names(self) -> tuple[str, ...]:
        # "posixrules", "Factory" and the like are not zones a person picks.
        return tuple(sorted(n for n in zoneinfo.available_timezones()
                            if "/" in n or n == "UTC"))

    @cached_property
    def _by_lower(self) -> dict[str, str]:
        return {n.lower(): n for n in zoneinfo.available_timezones() if n not in _NOT_ZONES}

    def resolve(self, name: str) -> zoneinfo.ZoneInfo:
        """The zone for a name typed in any case ("europe/berlin", "Europe/Berlin"); UnknownTimezone otherwise."""
        key = name.strip().replace(" ", "_").lower()
        canonical = self._by_lower.get(key)
        if canonical is None:
            suggestions = self.suggest(name, limit=3) or self._close(key)
            hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise UnknownTimezone(f"“{name.strip()}” is not a time zone I know. Use an IANA name like "
                                  f"Europe/Berlin, America/New_York or UTC.{hint}")
        return zoneinfo.ZoneInfo(canonical)

    def _close(self, key: str) -> list[str]:
        """Typo suggestions ("Europe/Berlinn" -> Europe/Berlin)."""
        lowered = {n.lower(): n for n in self._names}
        return [lowered[m] for m in difflib.get_close_matches(key, lowered, n=3, cutoff=0.8)]

    def suggest(self, typed: str, *, limit: int = AUTOCOMPLETE_LIMIT) -> list[str]:
        """Zone names matching what was typed: names starting with it first, then any part containing it."""
        needle = typed.strip().replace(" ", "_").lower()
        if not needle:
            return list(self._names[:limit])
        starts, contains = [], []
        for name in self._names:
            low = name.lower()
            if low.startswith(needle) or low.split("/")[-1].startswith(needle):
                starts.append(name)
            elif needle in low:
                contains.append(name)
        return (starts + contains)[:limit]
