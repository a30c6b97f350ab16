"""One entry point for every answer: the primary provider, then the fallback chain, honestly.

Before the first token a failure moves on invisibly; after it, the next provider continues the
answer from the partial text and a `ProviderSwitch` event says so. Transient failures are retried
in rounds over the chain (so a fallback answers at once while a flaky primary waits its backoff);
permanent ones never are. Open circuits, spent budgets and unconfigured providers are skipped
without a request. When nothing can answer, one `AllProvidersFailed` lists every reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from services.errors import ServiceDisabled, ServiceError
from services.llm.base import (
    GenerationOptions,
    LLMProvider,
    Message,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
    ToolCall,
    ToolCalls,
    ToolSpec,
    Usage,
    estimate_prompt_tokens,
    estimate_tokens,
)
from services.llm.errors import (
    AllProvidersFailed,
    AuthFailed,
    BudgetExhausted,
    FailedAttempt,
    OutOfCredit,
    ProviderBusy,
    StreamBroken,
    StreamTimeout,
)
from services.llm.usage import UsageRecord, UsageStore
from services.resilience import CircuitBreaker, CircuitOpen, RetryPolicy, is_service_fault
from services.storage import Cache, HealthStore, ServiceHealth

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "llm"


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
    max_concurrency: int = 4
    circuit_failure_threshold: int = 3
    circuit_cooldown: float = 30.0
    budgets: Mapping[str, int] = field(default_factory=dict)  # provider -> tokens per UTC day
    disabled: Mapping[str, str] = field(default_factory=dict)  # provider -> why it is not built
    cache_ttl: float = 0.0  # 0: no response cache
    probe_timeout: float = 10.0


class _Run:
    """The state of one answer across attempts."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.failures: list[FailedAttempt] = []
        self.switches: list[ProviderSwitch] = []
        self.interrupted: FailedAttempt | None = None

    def switch_to(self, target: Target) -> ProviderSwitch:
        assert self.interrupted is not None
        switch = ProviderSwitch(self.interrupted.provider, self.interrupted.model, target.provider,
                                target.model, self.interrupted.reason)
        self.switches.append(switch)
        self.interrupted = None
        return switch


class LLMRouter:
    def __init__(self, providers: Mapping[str, LLMProvider], config: RouterConfig, *, health: HealthStore,
                 usage: UsageStore, cache: Cache | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.providers = dict(providers)
        self.config = config
        self.usage = usage
        self._health = health
        self._cache = cache
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.breakers = {name: CircuitBreaker(health, p.service, failure_threshold=config.circuit_failure_threshold,
                                              cooldown=config.circuit_cooldown, clock=clock)
                         for name, p in self.providers.items()}
        self._slots = {name: asyncio.Semaphore(config.max_concurrency) for name in self.providers}
        self._started = False
        self._observers: list[Callable[[ChatResult], object]] = []

    def add_observer(self, observer: Callable[[ChatResult], object]) -> None:
        """Called with every finished answer (metrics); must not block or raise."""
        self._observers.append(observer)

    def _finished(self, result: ChatResult) -> ChatResult:
        for observer in self._observers:
            observer(result)
        return result

    async def start(self) -> None:
        """Take over circuit states and today's usage from the database (once)."""
        if self._started:
            return
        self._started = True
        for breaker in self.breakers.values():
            await breaker.restore()
        await self.usage.restore()

    # --- answering -----------------------------------------------------------------------------

    async def stream(self, messages: Sequence[Message], *, temperature: float | None = None,
                     max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()) -> AsyncIterator[RouterEvent]:
        """TextDelta, ReasoningDelta and ProviderSwitch events, then one ChatResult (with the tool
        calls the model asked for, when `tools` were offered); or AllProvidersFailed."""
        await self.start()
        options = GenerationOptions(temperature, max_tokens)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeouts.total
        run, dropped, dropped_providers = _Run(), set[int](), set[str]()
        for round_no in range(1, self.config.retry.attempts + 1):
            delays: list[float] = []
            for index, target in enumerate(self.config.chain):
                if index in dropped or target.provider in dropped_providers:
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    run.failures.append(FailedAttempt(*target, StreamTimeout("llm", "total", self.config.timeouts.total),
                                                      skipped=True))
                    raise AllProvidersFailed(run.failures, partial_text="".join(run.parts))
                try:
                    async with aclosing(self._attempt(target, messages, options, run, remaining, tools)) as events:
                        async for event in events:
                            if isinstance(event, ChatResult):
                                yield self._finished(event)
                                return
                            yield event
                except ServiceError as exc:
                    delay = self.config.retry.delay_for(round_no, exc, self._rng)
                    if isinstance(exc, (AuthFailed, OutOfCredit)):
                        dropped_providers.add(target.provider)
                    elif delay is None or isinstance(exc, CircuitOpen):
                        dropped.add(index)
                    else:
                        delays.append(delay)
            if not delays or loop.time() + max(delays) >= deadline:
                break
            log.info("Every LLM provider failed; retrying in %.1f s", max(delays))
            await self._sleep(max(delays))
        raise AllProvidersFailed(run.failures, partial_text="".join(run.parts))

    async def chat(self, messages: Sequence[Message], *, temperature: float | None = None,
                   max_tokens: int | None = None, use_cache: bool = True) -> ChatResult:
        """The whole answer; identical requests are served from the cache when API_CACHE_ENABLED."""
        key = None
        if use_cache and self._cache is not None and self.config.cache_ttl > 0:
            key = self._cache_key(messages, temperature, max_tokens)
            hit = await self._cache.get(CACHE_NAMESPACE, key)
            if isinstance(hit, dict):
                return self._finished(ChatResult(hit["text"], hit["finish_reason"], Usage(*hit["usage"]),
                                                 hit["provider"], hit["model"], cached=True))
        result: ChatResult | None = None
        async with aclosing(self.stream(messages, temperature=temperature, max_tokens=max_tokens)) as events:
            async for event in events:
                if isinstance(event, ChatResult):
                    result = event
        assert result is not None, "stream() ends with a ChatResult or raises"
        if key is not None and self._cache is not None:
            usage = result.usage
            await self._cache.set(CACHE_NAMESPACE, key, {
                "text": result.text, "finish_reason": result.finish_reason, "provider": result.provider,
                "model": result.model, "usage": [usage.prompt_tokens, usage.completion_tokens, usage.estimated],
            }, self.config.cache_ttl)
        return result

    def _cache_key(self, messages: Sequence[Message], temperature: float | None, max_tokens: int | None) -> str:
        payload = json.dumps([self.config.chain, [m.identity() for m in messages],
                              temperature, max_tokens], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    async def _attempt(self, target: Target, messages: Sequence[Message], options: GenerationOptions,
                       run: _Run, remaining: float, tools: Sequence[ToolSpec] = ()) -> AsyncIterator[RouterEvent]:
        """One provider:model; bookkeeping (health, circuit, usage) happens before the result is yielded."""
        try:
            provider, breaker, slot = await self._admit(target, remaining)
        except ServiceError as exc:
            run.failures.append(FailedAttempt(*target, exc, skipped=True))
            log.debug("LLM %s:%s skipped: %s", *target, exc.cause)  # the breaker logged the opening
            raise
        loop = asyncio.get_running_loop()
        timeouts = replace(self.config.timeouts, first_token=min(self.config.timeouts.first_token, remaining),
                           total=min(self.config.timeouts.total, remaining))
        prefix = "".join(run.parts)
        request = [*messages, Message("assistant", prefix)] if prefix else list(messages)
        started, ttft, produced, settled = loop.time(), None, [], False
        end: StreamEnd | None = None
        thinking: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        try:
            async with aclosing(provider.stream(request, model=target.model, options=options,
                                                timeouts=timeouts, tools=tools)) as events:
                async for event in events:
                    if isinstance(event, StreamEnd):
                        end = event
                        continue
                    if isinstance(event, ToolCalls):
                        calls = event.calls
                        continue
                    if isinstance(event, ReasoningDelta):
                        thinking.append(event.text)
                        yield event
                        continue
                    if ttft is None:
                        ttft = (loop.time() - started) * 1000
                        if run.interrupted is not None:
                            yield run.switch_to(target)
                    produced.append(event.text)
                    run.parts.append(event.text)
                    yield event
            if end is None:
                raise StreamBroken(provider.service, "stream ended without a final event")
            latency = (loop.time() - started) * 1000
            settled = True
            await breaker.record_success(latency)
            await self.usage.record(UsageRecord(
                target.provider, end.usage.prompt_tokens, end.usage.completion_tokens, end.usage.estimated,
                fallback=bool(run.failures), latency_ms=latency, ttft_ms=ttft))
            yield ChatResult("".join(run.parts), end.finish_reason, end.usage, *target, tuple(run.switches),
                             tuple(run.failures), latency, ttft, reasoning="".join(thinking), tool_calls=calls)
        except ServiceError as exc:
            settled = True
            failure = FailedAttempt(*target, exc, after_first_token=bool(produced))
            run.failures.append(failure)
            if produced:
                run.interrupted = failure
            log.warning("LLM %s:%s failed%s: %s", *target, " mid-answer" if produced else "", failure.reason)
            await self._record_failure(target, breaker, exc, messages, produced, (loop.time() - started) * 1000)
            raise
        except GeneratorExit:
            if not settled:  # the caller stopped reading mid-answer: the tokens were still spent
                text = "".join(produced)
                await self.usage.record(UsageRecord(
                    target.provider, estimate_prompt_tokens(messages) if text else 0, estimate_tokens(text),
                    estimated=True))
            raise
        finally:
            slot.release()
            if not settled:
                breaker.release()

    async def _admit(self, target: Target,
                     remaining: float) -> tuple[LLMProvider, CircuitBreaker, asyncio.Semaphore]:
        """Skip what cannot answer now, at no cost; then wait for a concurrency slot."""
        provider = self.providers.get(target.provider)
        service = f"llm:{target.provider}"
        if provider is None:
            raise ServiceDisabled(service, self.config.disabled.get(target.provider, "not configured"))
        budget = self.config.budgets.get(target.provider, 0)
        used = self.usage.tokens_today(target.provider)
        if budget and used >= budget:
            raise BudgetExhausted(service, f"daily token budget spent ({used} of {budget} tokens today, UTC)")
        breaker, slot = self.breakers[target.provider], self._slots[target.provider]
        await breaker.before_call()
        wait = min(self.config.timeouts.first_token, remaining)
        try:
            async with asyncio.timeout(wait):
                await slot.acquire()
        except TimeoutError:
            breaker.release()
            raise ProviderBusy(service, f"all {self.config.max_concurrency} request slots busy for {wait:g} s") from None
        return provider, breaker, slot

    async def _record_failure(self, target: Target, breaker: CircuitBreaker, exc: ServiceError,
                              messages: Sequence[Message], produced: list[str], latency_ms: float) -> None:
        if is_service_fault(exc):
            await breaker.record_failure(exc, latency_ms=latency_ms, trip=isinstance(exc, (AuthFailed, OutOfCredit)))
        else:
            breaker.release()
        text = "".join(produced)
        await self.usage.record(UsageRecord(
            target.provider, estimate_prompt_tokens(messages) if text else 0, estimate_tokens(text),
            estimated=bool(text), error=True))

    # --- health --------------------------------------------------------------------------------

    async def probe(self) -> list[ServiceHealth]:
        """Check every provider in the chain (reachable, key accepted, models present) and store it;
        providers that are not built are stored as disabled with the reason."""
        await self.start()
        models: dict[str, list[str]] = {}
        for target in self.config.chain:
            if target.provider in self.providers and target.model not in models.setdefault(target.provider, []):
                models[target.provider].append(target.model)
        results = list(await asyncio.gather(*(self._probe_one(name, wanted) for name, wanted in models.items())))
        for name, reason in self.config.disabled.items():
            results.append(await self._health.record_disabled(f"llm:{name}", reason))
        return results

    async def _probe_one(self, name: str, models: list[str]) -> ServiceHealth:
        provider, breaker = self.providers[name], self.breakers[name]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            missing = await provider.probe(models, timeout=self.config.probe_timeout)
        except ServiceError as exc:
            await breaker.record_failure(exc, latency_ms=(loop.time() - started) * 1000,
                                         trip=isinstance(exc, (AuthFailed, OutOfCredit)))
            health = await self._health.get(provider.service)
            assert health is not None
            return health
        latency = (loop.time() - started) * 1000
        if missing:
            detail = f"model not on the server: {', '.join(missing)}"
            if name == "ollama":
                detail += f" (run: ollama pull {missing[0]})"
        else:
            detail = f"models ok: {', '.join(models)}"
        return await breaker.record_probe(latency, detail=detail, degraded=bool(missing))

    async def list_models(self, provider: str) -> list[str]:
        if provider not in self.providers:
            raise ServiceDisabled(f"llm:{provider}", self.config.disabled.get(provider, "not configured"))
        return await self.providers[provider].list_models(timeout=self.config.probe_timeout)

    def describe_chain(self) -> list[str]:
        """"provider:model" in the order they are tried, for logs and /health."""
        return [f"{t.provider}:{t.model}" for t in self.config.chain]

