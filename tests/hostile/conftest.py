"""Hypothesis profiles: CI replays the same examples every run (a red CI is then a regression, not a
new random find); a developer's run explores new ones. HYPOTHESIS_PROFILE overrides either."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore"))
