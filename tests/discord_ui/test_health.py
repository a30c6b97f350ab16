"""/health rendering: every service on one line, Discord's embed limits, secrets masked, staleness."""

from __future__ import annotations

import json

import pytest

from discord_ui.health import HealthReport, alert_text, health_embed, service_line, service_lines
from services.llm.usage import DailyUsage
from services.storage import CacheStats, ServiceHealth

NOW = 1_700_000_000.0
KNOWN_SECRET = "plain-secret-value_42"  # no key-like shape: only the settings' own secrets catch it


def report(rows: list[ServiceHealth], *, stale: set[str] = frozenset(), usage: list[DailyUsage] | None = None,
           secrets: tuple[str, ...] = (KNOWN_SECRET,)) -> HealthReport:
    return HealthReport(rows=rows, now=NOW, is_stale=lambda h: h.service in stale,
                        cache=CacheStats(entries=12, hits=3, misses=1), usage=usage or [], uptime_s=3723,
                        gateway_ms=41.6, database_bytes=2_500_000, interval=60, last_round_at=NOW - 20,
                        secrets=secrets)


def daily(provider: str, requests: int, tokens: int, fallbacks: int = 0, errors: int = 0) -> DailyUsage:
    return DailyUsage("2023-11-14", provider, requests, errors, fallbacks, tokens // 2, tokens - tokens // 2, 0,
                      120.0, 300.0, 50.0)


def embed_text(embed) -> str:
    return json.dumps(embed.to_dict(), ensure_ascii=False)


def test_one_line_per_service_with_everything_an_admin_needs():
    rows = [
        ServiceHealth("llm:ollama", "down", 5012.0, "cannot connect to 127.0.0.1:11434 (Connection refused)",
                      NOW - 30, 4, "open", NOW - 60),
        ServiceHealth("tts:kokoro", "healthy", 31.4, None, NOW - 5, detail="4 voices"),
        ServiceHealth("rvc", "disabled", None, None, NOW - 5, detail="RVC_API_URL and RVC_WEBUI_URL are empty"),
    ]
    embed = health_embed(report(rows, usage=[daily("ollama", 7, 1234, fallbacks=2, errors=1)]))
    lines = embed.description.split("\n")
    assert lines[0] == "🔴 **llm:ollama** down · 5012 ms · 30s ago · circuit open · 4 failures"
    assert lines[1] == "  └ cannot connect to 127.0.0.1:11434 (Connection refused)"
    assert lines[2] == "🟢 **tts:kokoro** healthy · 31 ms · 5s ago (4 voices)"
    assert lines[3].startswith("⚪ **rvc** disabled · 5s ago (RVC\\_API\\_URL")  # markdown escaped
    fields = {f.name: f.value for f in embed.fields}
    assert fields["LLM usage today (UTC)"] == "**ollama** 7 requests · 1,234 tokens · 2 fallbacks · 1 errors"
    assert fields["Cache"] == "12 entries · hit rate 75% (3 hits, 1 misses)"
    assert (fields["Gateway"], fields["Uptime"], fields["Database"]) == ("42 ms", "1h 2m", "SQLite, 2.5 MB")
    assert embed.colour is not None and embed.colour.value == 0xE74C3C  # red: something is down


def test_problems_come_first_and_stale_rows_say_so():
    rows = [ServiceHealth("database", "healthy", 2.0, None, NOW - 10),
            ServiceHealth("tts:kokoro", "healthy", 30.0, None, NOW - 400),
            ServiceHealth("stt:whisper", "degraded", 900.0, "slow: 900 ms", NOW - 10, 1)]
    text = service_lines(rows, now=NOW, is_stale=lambda h: h.service == "tts:kokoro")
    lines = [line for line in text.split("\n") if not line.startswith("  └")]
    assert [line.split("**")[1] for line in lines] == ["stt:whisper", "database", "tts:kokoro"]
    assert lines[2].endswith("7m ago · **stale**") and "stale" not in lines[1]


def test_never_checked_service_is_listed():
    line = service_line(ServiceHealth("search:urban"), now=NOW, stale=True)
    assert line == "❔ **search:urban** unknown · never checked"


@pytest.mark.parametrize("count", [11, 40, 200])
def test_any_number_of_services_and_error_lengths_fit_discords_limits(count):
    rows = [ServiceHealth(f"service:{i:03d}", "down", 10_000.0, "E" * 300 + f" {KNOWN_SECRET}", NOW - 5, 99,
                          "half_open", detail="D" * 300) for i in range(count)]
    usage = [daily(f"provider-{i}", 10**6, 10**9) for i in range(40)]
    embed = health_embed(report(rows, usage=usage))
    assert len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    assert len(embed) <= 6000
    assert KNOWN_SECRET not in embed_text(embed)
    if count == 200:
        assert embed.description.endswith("more")
        shown = embed.description.count("**service:")
        assert f"… and {count - shown} more" in embed.description


def test_keys_in_errors_urls_and_details_are_masked():
    rows = [
        ServiceHealth("tts:kokoro", "down", 12.0,
                      f"upstream http://admin:hunter2pass@10.0.0.5/v1 refused key {KNOWN_SECRET}", NOW - 1, 1),
        ServiceHealth("llm:openrouter", "degraded", 80.0, "401: Authorization: Bearer sk-or-v1-abcdef0123456789",
                      NOW - 1, 1, detail=f"https://user:pw1234@openrouter.example/api?api_key={KNOWN_SECRET}"),
    ]
    embed = health_embed(report(rows))
    text = embed_text(embed)
    for secret in ("hunter2pass", KNOWN_SECRET, "plain-secret", "sk-or-v1-abcdef0123456789", "pw1234"):
        assert secret not in text
    assert "http://***@10.0.0.5" in embed.description  # URLs are left unescaped by discord.py
    assert "Bearer \\*\\*\\*" in embed.description  # elsewhere the mask is escaped like any markdown


def test_a_secret_is_masked_before_it_is_cut():
    error = "x" * 90 + KNOWN_SECRET
    line = service_line(ServiceHealth("rvc", "down", None, error, NOW), now=NOW, stale=False,
                        secrets=(KNOWN_SECRET,), error_chars=100)
    assert "plain-se" not in line and "plain\\-se" not in line


def test_alert_text_says_what_changed_with_the_cause_redacted():
    old = ServiceHealth("tts:kokoro", "healthy", 30.0, None, NOW - 60)
    new = ServiceHealth("tts:kokoro", "down", 5.0, f"HTTP 503 key={KNOWN_SECRET} @everyone", NOW, 3)
    text = alert_text(old, new, (KNOWN_SECRET,))
    assert text.startswith("🔴 **tts:kokoro**: healthy → down — HTTP 503 key=")
    assert KNOWN_SECRET not in text
    back = alert_text(new, ServiceHealth("tts:kokoro", "healthy", 28.0, None, NOW + 60))
    assert back == "🟢 **tts:kokoro**: down → healthy (28 ms)"


def test_quotas_and_the_web_engine_are_shown():
    from dataclasses import replace

    from services.limits import QuotaSummary

    rows = [ServiceHealth("search:web", "healthy", 12.0, checked_at=NOW - 5)]
    quotas = QuotaSummary(member_limit=20_000, server_limit=0, server_used=45_500, members_at_limit=2,
                          top_members=((11, 20_100), (12, 20_000), (13, 5_400)))
    embed = health_embed(replace(report(rows), quotas=quotas, labels={"search:web": "search:web (searxng)"}))
    assert embed.description is not None and "**search:web (searxng)** healthy" in embed.description
    [field] = [f for f in embed.fields if f.name == "Token quotas today (UTC)"]
    assert field.value == ("this server: 45,500 tokens (no limit)\nper member: 20,000 tokens · 2 at their limit\n"
                           "most used: <@11> 20,100, <@12> 20,000, <@13> 5,400")
