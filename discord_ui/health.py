"""Rendering for /health and health alerts: one line per service, within Discord's embed limits.

Every piece of text that came from a service (errors, details) is redacted with the bot's own
secrets before it is cut or escaped, so neither a known key nor a key-shaped string survives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import discord

from services.limits import QuotaSummary
from services.llm.usage import DailyUsage
from services.redact import redact
from services.storage import CacheStats, ServiceHealth

STATUS_ICON = {"healthy": "🟢", "degraded": "🟡", "down": "🔴", "disabled": "⚪", "unknown": "❔"}
SEVERITY = {"down": 0, "degraded": 1, "unknown": 2, "healthy": 3, "disabled": 4}
DESCRIPTION_BUDGET = 3900  # of Discord's 4096, leaving room for the "... more" line
FIELD_LIMIT = 1024
ERROR_LENGTHS = (200, 100, 40, 0)  # tried in turn until every service fits


@dataclass(frozen=True)
class HealthReport:
    """Everything /health shows, gathered by the cog; rendering needs no I/O."""

    rows: Sequence[ServiceHealth]
    now: float
    is_stale: Callable[[ServiceHealth], bool]
    cache: CacheStats
    usage: Sequence[DailyUsage]
    uptime_s: float
    gateway_ms: float | None
    database_bytes: int
    interval: float
    last_round_at: float | None
    secrets: Sequence[str] = ()
    database: str = "sqlite"
    process: str | None = None  # "host:pid (shard 1 of 2); leader: ..." when processes share the database
    quotas: QuotaSummary | None = None  # today in the server /health was asked in
    labels: Mapping[str, str] = field(default_factory=dict)  # service -> how to show it, e.g. its engine


def clean(text: str, secrets: Iterable[str], limit: int) -> str:
    """Redact first (a cut could leave half a key unrecognised), then cut, then escape markdown."""
    text = redact(text, secrets)
    if len(text) > limit:
        text = text[:max(0, limit - 1)] + "…"
    return discord.utils.escape_markdown(" ".join(text.split()))


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def duration(seconds: float) -> str:
    days, rem = divmod(int(seconds), 86400)
    hours, rem = divmod(rem, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rem // 60}m" if hours else f"{rem // 60}m {rem % 60}s"


def service_line(h: ServiceHealth, *, now: float, stale: bool, secrets: Sequence[str] = (),
                 error_chars: int = ERROR_LENGTHS[0], label: str | None = None) -> str:
    """Status, latency, age (and staleness), circuit, failures, detail; the last error below."""
    parts = [f"{STATUS_ICON.get(h.status, '❔')} **{label or h.service}** {h.status}"]
    if h.latency_ms is not None and h.status not in ("disabled", "unknown"):
        parts.append(f"{h.latency_ms:.0f} ms")
    parts.append(ago(now - h.checked_at) if h.checked_at else "never checked")
    if stale and h.checked_at:
        parts.append("**stale**")
    if h.circuit_state != "closed":
        parts.append(f"circuit {h.circuit_state.replace('_', '-')}")
    if h.consecutive_failures:
        parts.append(f"{h.consecutive_failures} failure{'s' if h.consecutive_failures != 1 else ''}")
    line = " · ".join(parts)
    if h.detail and h.status != "down" and error_chars:
        line += f" ({clean(h.detail, secrets, min(80, error_chars))})"
    if h.last_error and h.status in ("degraded", "down") and error_chars:
        line += f"\n  └ {clean(h.last_error, secrets, error_chars)}"
    return line


def service_lines(rows: Sequence[ServiceHealth], *, now: float, is_stale: Callable[[ServiceHealth], bool],
                  secrets: Sequence[str] = (), budget: int = DESCRIPTION_BUDGET,
                  labels: Mapping[str, str] | None = None) -> str:
    """Problems first; shorter errors, then fewer lines, until the text fits the budget."""
    if not rows:
        return "No service has been checked yet."
    ordered = sorted(rows, key=lambda h: (SEVERITY.get(h.status, 2), h.service))
    for chars in ERROR_LENGTHS:
        lines = [service_line(h, now=now, stale=is_stale(h), secrets=secrets, error_chars=chars,
                              label=(labels or {}).get(h.service)) for h in ordered]
        text = "\n".join(lines)
        if len(text) <= budget:
            return text
    kept: list[str] = []
    for line in lines:
        more = f"\n… and {len(lines) - len(kept) - 1} more"
        if sum(len(k) + 1 for k in kept) + len(line) + len(more) > budget:
            break
        kept.append(line)
    return "\n".join(kept) + f"\n… and {len(lines) - len(kept)} more"


def cache_line(stats: CacheStats) -> str:
    rate = f"{stats.hit_rate:.0%}" if stats.hit_rate is not None else "n/a"
    return f"{stats.entries} entries · hit rate {rate} ({stats.hits} hits, {stats.misses} misses)"


def usage_lines(usage: Sequence[DailyUsage]) -> str:
    if not usage:
        return "No requests yet today."
    lines = []
    for u in usage:
        line = (f"**{u.provider}** {u.requests} requests · {u.total_tokens:,} tokens"
                f"{' (some estimated)' if u.estimated_requests else ''} · {u.fallbacks} fallbacks")
        if u.errors:
            line += f" · {u.errors} errors"
        lines.append(line)
    return _fit_field(lines)


def quota_lines(q: QuotaSummary) -> str:
    """This server's tokens today against its quota, members at their own quota, the heaviest users."""
    server = (f"this server: {q.server_used:,} of {q.server_limit:,} tokens" if q.server_limit
              else f"this server: {q.server_used:,} tokens (no limit)")
    member = (f"per member: {q.member_limit:,} tokens · {q.members_at_limit} at their limit" if q.member_limit
              else "per member: no limit")
    lines = [server, member]
    if q.top_members:
        lines.append("most used: " + ", ".join(f"<@{member}> {tokens:,}" for member, tokens in q.top_members))
    return _fit_field(lines)


def _fit_field(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= FIELD_LIMIT else text[:FIELD_LIMIT - 1] + "…"


def colour(rows: Iterable[ServiceHealth]) -> discord.Colour:
    statuses = {h.status for h in rows}
    if "down" in statuses:
        return discord.Colour.red()
    if "degraded" in statuses:
        return discord.Colour.gold()
    return discord.Colour.green()


def health_embed(report: HealthReport) -> discord.Embed:
    embed = discord.Embed(
        title="Bot health", colour=colour(report.rows),
        description=service_lines(report.rows, now=report.now, is_stale=report.is_stale, secrets=report.secrets,
                                  labels=report.labels))
    embed.add_field(name="Cache", value=cache_line(report.cache), inline=False)
    embed.add_field(name="LLM usage today (UTC)", value=usage_lines(report.usage), inline=False)
    if report.quotas is not None:
        embed.add_field(name="Token quotas today (UTC)", value=quota_lines(report.quotas), inline=False)
    gateway = f"{report.gateway_ms:.0f} ms" if report.gateway_ms is not None else "not connected"
    embed.add_field(name="Gateway", value=gateway)
    embed.add_field(name="Uptime", value=duration(report.uptime_s))
    kind = {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(report.database, report.database)
    embed.add_field(name="Database", value=f"{kind}, {report.database_bytes / 1e6:.1f} MB")
    if report.process:
        embed.add_field(name="Process", value=clean(report.process, report.secrets, 300), inline=False)
    last = ago(report.now - report.last_round_at) if report.last_round_at else "not yet"
    embed.set_footer(text=f"Probed every {report.interval:g} s, last round {last}. Stale: from before the "
                          f"restart or older than {2 * report.interval:g} s. refresh:true probes now.")
    return embed


def alert_text(old: ServiceHealth | None, new: ServiceHealth, secrets: Sequence[str] = ()) -> str:
    """One alert line per state change; the error when it is a problem."""
    before = old.status if old else "unknown"
    text = f"{STATUS_ICON.get(new.status, '❔')} **{new.service}**: {before} → {new.status}"
    if new.status in ("degraded", "down") and (new.last_error or new.detail):
        text += f" — {clean(new.last_error or new.detail or '', secrets, 300)}"
    elif new.status == "healthy" and new.latency_ms is not None:
        text += f" ({new.latency_ms:.0f} ms)"
    return text
