"""One entry point for every answer: the primary provider, then the fallback chain, honestly.

Before the first token a failure moves on invisibly; after it, the next provider continues the
answer from the partial text and a `ProviderSwitch` event says so. Transient failures are retried
in rounds over the chain (so a fallback answers at once while a flaky primary waits its backoff);
permanent ones never are. Open circuits, spent budgets and unconfigured providers are skipped
without a request, except that when every circuit is open the provider whose cool-down ends first
gets its half-open trial at once (one request at a time; others wait for its outcome), so a provider
that came back is used as soon as anyone asks. When nothing can answer, one `AllProvidersFailed`
lists every reason.

Requests to one provider are bounded (LLM_MAX_CONCURRENCY) by a FairGate: waiting requests are
served fairly across members, and a waiting member is told their place. A `Requester` names the
member (whose daily token quota is checked first and charged after each attempt) and the deadline
by which the answer must be done.
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
from dataclasses import replace

from services.errors import ServiceDisabled, ServiceError
from services.limits.fair import FairGate, GateTimeout
from services.limits.quotas import TokenQuotas
from services.limits.requester import Requester
from services.llm.base import (
    GenerationOptions,
    LLMProvider,
    Message,
    ReasoningDelta,
    StreamEnd,
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
from services.llm.probing import probe_provider
from services.llm.routing import ChatResult, ProviderSwitch, RouterConfig, RouterEvent, Run, Target
from services.llm.usage import UsageRecord, UsageStore
from services.resilience import CircuitBreaker, CircuitOpen, is_service_fault
from services.storage import Cache, HealthStore, ServiceHealth

__all__ = ["ChatResult", "LLMRouter", "ProviderSwitch", "RouterConfig", "RouterEvent", "Target"]

log = logging.getLogger(__name__)

CACHE_NAMESPACE = "llm"


class LLMRouter:
    def __init__(self, providers: Mapping[str, LLMProvider], config: RouterConfig, *, health: HealthStore,
                 usage: UsageStore, cache: Cache | None = None, quotas: TokenQuotas | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.providers = dict(providers)
        self.config = config
        self.usage = usage
        self.quotas = quotas
        self._health = health
        self._cache = cache
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.breakers = {name: CircuitBreaker(health, p.service, failure_threshold=config.circuit_failure_threshold,
                                              cooldown=config.circuit_cooldown, max_cooldown=config.circuit_cooldown_max,
                                              clock=clock)
                         for name, p in self.providers.items()}
        self.gates = {name: FairGate(f"llm:{name}", config.concurrency(name)) for name in self.providers}
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
                     max_tokens: int | None = None, requester: Requester | None = None,
                     tools: Sequence[ToolSpec] = (),
                     chain: Sequence[tuple[str, str]] | None = None) -> AsyncIterator[RouterEvent]:
        """TextDelta, ReasoningDelta and ProviderSwitch events, then one ChatResult (with the tool
        calls the model asked for, when `tools` were offered); or AllProvidersFailed.

        With a `requester`, raises QuotaExceeded (before any request) when their quota is spent.
        `chain` (provider, model) pairs replace the configured chain for this answer (a channel's
        /model); providers this bot has not built are skipped as disabled.
        """
        await self.start()
        if requester is not None and self.quotas is not None:
            await self.quotas.check(requester.member_id, requester.guild_id)
        options = GenerationOptions(temperature, max_tokens)
        run, dropped, dropped_providers = Run(self.config.timeouts.total, requester), set[int](), set[str]()
        targets = tuple(Target(*t) for t in chain) if chain else self.config.chain
        for round_no in range(1, self.config.retry.attempts + 1):
            delays: list[float] = []
            open_skips: list[Target] = []
            asked = False
            for index, target in enumerate(targets):
                if index in dropped or target.provider in dropped_providers:
                    continue
                if run.remaining() <= 0:
                    raise self._out_of_time(run, target)
                try:
                    async with aclosing(self._attempt(target, messages, options, run, tools)) as events:
                        async for event in events:
                            if isinstance(event, ChatResult):
                                yield self._finished(event)
                                return
                            yield event
                except ServiceError as exc:
                    asked = asked or not run.failures[-1].skipped
                    delay = self.config.retry.delay_for(round_no, exc, self._rng)
                    if isinstance(exc, (AuthFailed, OutOfCredit)):
                        dropped_providers.add(target.provider)
                    elif isinstance(exc, CircuitOpen):
                        dropped.add(index)
                        open_skips.append(target)
                    elif delay is None:
                        dropped.add(index)
                    else:
                        delays.append(delay)
            if open_skips and not asked:
                # Every provider that could answer is resting: try the one whose rest ends first now.
                async for event in self._early_trial(open_skips, messages, options, run, tools):
                    if isinstance(event, ChatResult):
                        yield self._finished(event)
                        return
                    yield event
                break
            if not delays or run.remaining() - max(delays) <= 0:
                break
            log.info("Every LLM provider failed; retrying in %.1f s", max(delays))
            await self._sleep(max(delays))
        raise AllProvidersFailed(run.failures, partial_text="".join(run.parts))

    async def _early_trial(self, targets: list[Target], messages: Sequence[Message], options: GenerationOptions,
                           run: Run, tools: Sequence[ToolSpec] = ()) -> AsyncIterator[RouterEvent]:
        """The half-open trial on the provider whose cool-down ends first; a running trial is waited for."""
        target = min(targets, key=lambda t: self.breakers[t.provider].retry_in())
        breaker = self.breakers[target.provider]
        await breaker.hurry(min(run.remaining(), self.config.timeouts.first_token))
        if run.remaining() <= 0:
            raise self._out_of_time(run, target)
        try:
            async with aclosing(self._attempt(target, messages, options, run, tools)) as events:
                async for event in events:
                    yield event
        except ServiceError:
            return  # recorded in run.failures

    def _out_of_time(self, run: Run, target: Target) -> AllProvidersFailed:
        total = self.config.timeouts.total
        run.failures.append(FailedAttempt(*target, StreamTimeout("llm", "total", total), skipped=True))
        return AllProvidersFailed(run.failures, partial_text="".join(run.parts))

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
                       run: Run, tools: Sequence[ToolSpec] = ()) -> AsyncIterator[RouterEvent]:
        """One provider:model; bookkeeping (health, circuit, usage) happens before the result is yielded."""
        try:
            provider, breaker, gate = await self._admit(target, run)
        except ServiceError as exc:
            run.failures.append(FailedAttempt(*target, exc, skipped=True))
            log.debug("LLM %s:%s skipped: %s", *target, exc.cause)  # the breaker logged the opening
            raise
        loop = asyncio.get_running_loop()
        remaining = run.remaining()
        timeouts = replace(self.config.timeouts, first_token=min(self.config.timeouts.first_token, remaining),
                           total=min(self.config.timeouts.total, remaining))
        prefix = "".join(run.parts)
        request = [*messages, Message("assistant", prefix)] if prefix else list(messages)
        started, ttft, produced, settled = loop.time(), None, [], False
        end: StreamEnd | None = None
        thinking: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        member = run.requester.member_id if run.requester else None
        held = True

        def free_slot() -> None:  # the provider is done; the bookkeeping after it needs no slot
            nonlocal held
            if held:
                held = False
                gate.release(member)

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
            free_slot()
            if end is None:
                raise StreamBroken(provider.service, "stream ended without a final event")
            latency = (loop.time() - started) * 1000
            settled = True
            await breaker.record_success(latency)
            await self._spend(run, UsageRecord(
                target.provider, end.usage.prompt_tokens, end.usage.completion_tokens, end.usage.estimated,
                fallback=bool(run.failures), latency_ms=latency, ttft_ms=ttft))
            yield ChatResult("".join(run.parts), end.finish_reason, end.usage, *target, tuple(run.switches),
                             tuple(run.failures), latency, ttft, reasoning="".join(thinking), tool_calls=calls)
        except ServiceError as exc:
            free_slot()
            settled = True
            failure = FailedAttempt(*target, exc, after_first_token=bool(produced))
            run.failures.append(failure)
            if produced:
                run.interrupted = failure
            log.warning("LLM %s:%s failed%s: %s", *target, " mid-answer" if produced else "", failure.reason)
            await self._record_failure(target, breaker, exc, messages, produced, (loop.time() - started) * 1000, run)
            raise
        except GeneratorExit:
            free_slot()
            if not settled:  # the caller stopped reading mid-answer: the tokens were still spent
                text = "".join(produced)
                await self._spend(run, UsageRecord(
                    target.provider, estimate_prompt_tokens(messages) if text else 0, estimate_tokens(text),
                    estimated=True))
            raise
        finally:
            free_slot()
            if not settled:
                breaker.release()

    async def _admit(self, target: Target, run: Run) -> tuple[LLMProvider, CircuitBreaker, FairGate]:
        """Skip what cannot answer now, at no cost; then wait for a slot, fairly across members."""
        provider = self.providers.get(target.provider)
        service = f"llm:{target.provider}"
        if provider is None:
            raise ServiceDisabled(service, self.config.disabled.get(target.provider, "not configured"))
        budget = self.config.budgets.get(target.provider, 0)
        used = self.usage.tokens_today(target.provider)
        if budget and used >= budget:
            raise BudgetExhausted(service, f"daily token budget spent ({used} of {budget} tokens today, UTC)")
        breaker, gate = self.breakers[target.provider], self.gates[target.provider]
        breaker.check()  # an open circuit is skipped before waiting in line for it
        requester = run.requester
        wait = min(self.config.queue_timeout, run.remaining())
        started = asyncio.get_running_loop().time()
        try:
            await gate.acquire(requester.member_id if requester else None, timeout=max(0.0, wait),
                               on_position=requester.position_callback("the model") if requester else None,
                               arrived=requester.arrived_at if requester else None)
        except GateTimeout as exc:
            raise ProviderBusy(service, f"still number {exc.position} in line for one of "
                                        f"{gate.limit} request slots after {exc.waited:.0f} s") from None
        finally:
            run.queued += asyncio.get_running_loop().time() - started
        try:
            await breaker.before_call()
        except BaseException:
            gate.release(requester.member_id if requester else None)
            raise
        return provider, breaker, gate

    async def _spend(self, run: Run, record: UsageRecord) -> None:
        """Record one attempt's usage for the provider and charge it to the member's and server's quota."""
        await self.usage.record(record)
        requester = run.requester
        if requester is not None and self.quotas is not None:
            await self.quotas.charge(requester.member_id, requester.guild_id,
                                     record.prompt_tokens + record.completion_tokens)

    async def _record_failure(self, target: Target, breaker: CircuitBreaker, exc: ServiceError,
                              messages: Sequence[Message], produced: list[str], latency_ms: float, run: Run) -> None:
        if is_service_fault(exc):
            await breaker.record_failure(exc, latency_ms=latency_ms, trip=isinstance(exc, (AuthFailed, OutOfCredit)))
        else:
            breaker.release()
        text = "".join(produced)
        await self._spend(run, UsageRecord(
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
        return await probe_provider(self.providers[name], self.breakers[name], models, health=self._health,
                                    timeout=self.config.probe_timeout)

    async def list_models(self, provider: str) -> list[str]:
        if provider not in self.providers:
            raise ServiceDisabled(f"llm:{provider}", self.config.disabled.get(provider, "not configured"))
        return await self.providers[provider].list_models(timeout=self.config.probe_timeout)

    def describe_chain(self) -> list[str]:
        """"provider:model" in the order they are tried, for logs and /health."""
        return [f"{t.provider}:{t.model}" for t in self.config.chain]

