"""How often history is pruned: daily for days of retention, a few times per period for short ones."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from services.storage.retention import prune_every


@pytest.mark.parametrize(("days", "seconds"), [
    (30, 86_400), (7, 86_400), (4, 86_400), (1, 21_600), (0.01, 216), (0.001, 60),
])
def test_prune_every(days: float, seconds: float) -> None:
    assert prune_every(days) == pytest.approx(seconds)


def test_history_settings_take_fractions_of_a_day() -> None:
    settings = load_settings({"CHAT_HISTORY_DAYS": "0.5", "REMINDER_HISTORY_DAYS": "2", "HEALTH_HISTORY_DAYS": "0.25"},
                             require_token=False)
    assert (settings.chat_history_days, settings.reminder_history_days, settings.health_history_days) == (0.5, 2, 0.25)
