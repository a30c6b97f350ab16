"""The values the router works with: its configuration, its events, and the state of one answer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from services.limits.requester import Requester
from services.llm.base import ReasoningDelta, TextDelta, Timeouts, ToolCall, Usage
from services.llm.errors import FailedAttempt
from services.resilience import RetryPolicy

DEFAULT_CONCURRENCY = 4


class Target(NamedTuple):
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class ProviderSwitch:
    """The answer broke on `from_provider` after its first token and continues on `to_provider`."""

    from_provider: str
    from_model: str
    to_provider: str
    to_model: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The whole answer (also the last event of a stream) and how it came about."""

    text: str
    finish_reason: str
    usage: Usage  # as reported by the provider that finished
    provider: str
    model: str
    switches: tuple[ProviderSwitch, ...] = ()
    failures: tuple[FailedAttempt, ...] = ()
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    cached: bool = False
    reasoning: str = ""  # the thinking of the attempt that finished; never part of `text`
    tool_calls: tuple[ToolCall, ...] = ()  # what the model asked to run instead of (or after) answering


RouterEvent = TextDelta | ReasoningDelta | ProviderSwitch | ChatResult


@dataclass(frozen=True)
class RouterConfig:
    chain: tuple[Target, ...]
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: Mapping[str, int] = field(default_factory=dict)  # provider -> requests at once
    circuit_failure_threshold: int = 3
    circuit_cooldown: float = 2.0  # the first cool-down; it doubles after each failed trial
    circuit_cooldown_max: float = 60.0
    budgets: Mapping[str, int] = field(default_factory=dict)  # provider -> tokens per UTC day
    disabled: Mapping[str, str] = field(default_factory=dict)  # provider -> why it is not built
    cache_ttl: float = 0.0  # 0: no response cache
    probe_timeout: float = 10.0
    queue_timeout: float = 540.0  # longest wait in a provider's line

    def concurrency(self, provider: str) -> int:
        return self.max_concurrency.get(provider, DEFAULT_CONCURRENCY)


class Run:
    """The state of one answer across attempts: its text so far, what failed, and its time budget.

    The total timeout counts the time spent answering, not the time spent waiting in line; a
    requester's deadline (Discord's interaction window) bounds both.
    """

    def __init__(self, total: float, requester: Requester | None) -> None:
        self.parts: list[str] = []
        self.failures: list[FailedAttempt] = []
        self.switches: list[ProviderSwitch] = []
        self.interrupted: FailedAttempt | None = None
        self.requester = requester
        self.queued = 0.0  # seconds spent waiting for a provider's slot
        self._total = total
        self._started = asyncio.get_running_loop().time()

    def remaining(self) -> float:
        now = asyncio.get_running_loop().time()
        left = self._started + self._total + self.queued - now
        if self.requester is not None and self.requester.deadline is not None:
            left = min(left, self.requester.deadline - now)
        return left

    def switch_to(self, target: Target) -> ProviderSwitch:
        assert self.interrupted is not None
        switch = ProviderSwitch(self.interrupted.provider, self.interrupted.model, target.provider,
                                target.model, self.interrupted.reason)
        self.switches.append(switch)
        self.interrupted = None
        return switch
