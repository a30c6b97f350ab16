"""Which models may see images and call tools: the operator's lists first, then what the server says.

`LLM_VISION_MODELS` marks models as vision-capable; otherwise a model is when its server reports it
(Ollama's /api/show `capabilities`, OpenRouter's `input_modalities`). Tools: `LLM_TOOLS=off` turns
them off everywhere; a non-empty `LLM_TOOL_MODELS` is the exact allow-list; when it is empty, a model
gets tools when its server reports tool support. Servers that report nothing (OpenAI itself, vLLM,
llama.cpp, LM Studio) get neither until listed, so a request is never refused for it. Reports are
cached (`ttl`); a server that cannot be asked counts as "reports nothing" for a short while.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from config.settings import ModelRef
from services.errors import ServiceError
from services.llm.base import LLMProvider

log = logging.getLogger(__name__)

FAILED_TTL = 60.0


def _same(provider: str, a: str, b: str) -> bool:
    if provider == "ollama":
        return a.removesuffix(":latest") == b.removesuffix(":latest")
    return a == b


def listed(refs: Sequence[ModelRef], provider: str, model: str) -> bool:
    return any(r.provider == provider and _same(provider, r.model, model) for r in refs)


class ModelCapabilities:
    def __init__(self, providers: Mapping[str, LLMProvider], *, tools_enabled: bool = True,
                 tool_models: Sequence[ModelRef] = (), vision_models: Sequence[ModelRef] = (),
                 ttl: float = 600.0, timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._providers = providers
        self.tools_enabled = tools_enabled
        self.tool_models = tuple(tool_models)
        self.vision_models = tuple(vision_models)
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, frozenset[str] | None]] = {}

    async def reported(self, provider: str, model: str) -> frozenset[str] | None:
        """What the server says the model can do (cached); None when it says nothing or cannot be asked."""
        key = (provider, model)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        backend = self._providers.get(provider)
        found, ttl = None, self._ttl
        if backend is not None:
            try:
                found = await backend.capabilities(model, timeout=self._timeout)
            except ServiceError as exc:
                log.info("Could not ask %s what %s can do: %s", backend.service, model, exc.cause)
                ttl = FAILED_TTL
        self._cache[key] = (self._clock() + ttl, found)
        return found

    async def vision(self, provider: str, model: str) -> bool:
        if listed(self.vision_models, provider, model):
            return True
        return "vision" in (await self.reported(provider, model) or ())

    async def tools(self, provider: str, model: str) -> bool:
        if not self.tools_enabled:
            return False
        if self.tool_models:
            return listed(self.tool_models, provider, model)
        return "tools" in (await self.reported(provider, model) or ())
