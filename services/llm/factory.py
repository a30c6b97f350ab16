"""Builds the providers and the router from Settings (the only place that knows setting names)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp

from config.settings import LLM_PROVIDERS, Settings
from services.limits.quotas import TokenQuotas
from services.llm.base import GenerationOptions, LLMProvider, Timeouts
from services.llm.ollama import OllamaOptions, OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider
from services.llm.router import LLMRouter, RouterConfig, Target
from services.llm.usage import UsageStore
from services.resilience import RetryPolicy
from services.storage import Cache, HealthStore


def build_chain(settings: Settings) -> tuple[Target, ...]:
    """The primary with its configured model, then LLM_FALLBACK_MODELS when enabled; no duplicates."""
    primary = Target(settings.llm_provider, default_model(settings, settings.llm_provider))
    chain = [primary]
    if settings.llm_fallback_enabled:
        chain += [Target(ref.provider, ref.model) for ref in settings.llm_fallback_models]
    return tuple(dict.fromkeys(chain))


def default_model(settings: Settings, provider: str) -> str:
    return {"ollama": settings.ollama_model, "openrouter": settings.openrouter_model,
            "openai": settings.openai_model}[provider]


def timeouts(settings: Settings) -> Timeouts:
    return Timeouts(connect=settings.llm_connect_timeout, first_token=settings.llm_first_token_timeout,
                    token_gap=settings.llm_token_gap_timeout, total=settings.llm_total_timeout)


def build_providers(settings: Settings, session: aiohttp.ClientSession,
                    chain: tuple[Target, ...]) -> tuple[dict[str, LLMProvider], dict[str, str]]:
    """Providers that are configured and used by the chain, and for the others the reason why not."""
    used = {t.provider for t in chain}
    options = GenerationOptions(temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens)
    limits = timeouts(settings)
    providers: dict[str, LLMProvider] = {}
    disabled: dict[str, str] = {}
    for name in LLM_PROVIDERS:
        if name not in used:
            disabled[name] = "not used: name it in LLM_PROVIDER or LLM_FALLBACK_MODELS"
        elif name == "ollama":
            providers[name] = OllamaProvider(
                session, settings.ollama_host, settings.ollama_model, options=options, timeouts=limits,
                ollama_options=OllamaOptions(
                    num_ctx=settings.ollama_num_ctx, top_p=settings.ollama_top_p, top_k=settings.ollama_top_k,
                    min_p=settings.ollama_min_p, repeat_penalty=settings.ollama_repeat_penalty,
                    keep_alive=settings.ollama_keep_alive))
        elif name == "openrouter" and not settings.openrouter_api_key:
            disabled[name] = "not configured: set OPENROUTER_API_KEY"
        elif name == "openrouter":
            providers[name] = OpenAICompatProvider(
                session, name, settings.openrouter_base_url, settings.openrouter_model,
                api_key=settings.openrouter_api_key, options=options, timeouts=limits, key_check_path="/key",
                extra_headers={"HTTP-Referer": settings.openrouter_site_url, "X-Title": settings.openrouter_app_name})
        elif not settings.openai_base_url:
            disabled[name] = "not configured: set OPENAI_BASE_URL"
        else:
            providers[name] = OpenAICompatProvider(
                session, name, settings.openai_base_url, settings.openai_model, api_key=settings.openai_api_key,
                options=options, timeouts=limits)
    return providers, disabled


def build_router(settings: Settings, session: aiohttp.ClientSession, *, health: HealthStore, usage: UsageStore,
                 cache: Cache | None = None, quotas: TokenQuotas | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> LLMRouter:
    chain = build_chain(settings)
    providers, disabled = build_providers(settings, session, chain)
    config = RouterConfig(
        chain=chain,
        timeouts=timeouts(settings),
        retry=RetryPolicy(attempts=settings.api_retry_attempts, base_delay=settings.api_retry_delay,
                          max_delay=settings.api_retry_max_delay),
        max_concurrency={p: settings.llm_concurrency(p) for p in LLM_PROVIDERS},
        circuit_failure_threshold=settings.llm_circuit_failure_threshold,
        circuit_cooldown=settings.llm_circuit_cooldown,
        circuit_cooldown_max=settings.llm_circuit_cooldown_max,
        budgets={p: settings.llm_budget(p) for p in LLM_PROVIDERS if settings.llm_budget(p)},
        disabled=disabled,
        cache_ttl=settings.api_cache_ttl if settings.api_cache_enabled else 0.0,
        probe_timeout=settings.health_probe_timeout,
        queue_timeout=settings.queue_max_wait,
    )
    return LLMRouter(providers, config, health=health, usage=usage, cache=cache, quotas=quotas, clock=clock,
                     sleep=sleep)
