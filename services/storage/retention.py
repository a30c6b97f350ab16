"""How often to prune history kept for a number of days.

Daily is enough for the usual 7-30 days; a short retention (minutes, as the soak benchmark uses) is
pruned a few times per retention period so the tables stay near their steady-state size.
"""

from __future__ import annotations

MIN_PRUNE_EVERY = 60.0
MAX_PRUNE_EVERY = 86_400.0


def prune_every(history_days: float) -> float:
    """Seconds between prunes of history kept `history_days`: a quarter of it, between a minute and a day."""
    return min(MAX_PRUNE_EVERY, max(MIN_PRUNE_EVERY, history_days * 86_400.0 / 4))
