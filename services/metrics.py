"""What the bot measures about itself, in Prometheus' terms, and the /metrics endpoint that serves it.

Every process has one `Metrics` on its own registry (tests and benches build several side by side).
Callers record plain facts (`interaction`, `answer`, `llm_result`, `voice_turn`, ...); values that
already live elsewhere (cache counters, queue depths, circuit states) are read at scrape time from
callables, so there is one source of truth. The endpoint is off unless METRICS_PORT is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

PREFIX = "discordbot"
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)  # Discord's 3 s window is in here
SLOW = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
CIRCUIT = {"closed": 0, "half_open": 1, "open": 2}
VOICE_STAGES = ("endpointing", "stt", "first_sentence", "tts", "first_audio")


class _Callables(Collector):
    """Families whose values are read at scrape time from the objects that own them."""

    def __init__(self) -> None:
        self.cache: Callable[[], tuple[Mapping[str, int], Mapping[str, int]]] | None = None
        self.queues: dict[str, Callable[[], int]] = {}
        self.circuits: Callable[[], Mapping[str, str]] | None = None

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        if self.cache is not None:
            hits, misses = self.cache()
            family = CounterMetricFamily(f"{PREFIX}_cache_lookups", "Cache look-ups by namespace and result",
                                         labels=["namespace", "result"])
            for namespace in sorted(set(hits) | set(misses)):
                family.add_metric([namespace, "hit"], hits.get(namespace, 0))
                family.add_metric([namespace, "miss"], misses.get(namespace, 0))
            yield family
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Requests waiting for a limited service",
                                  labels=["queue"])
        for name, read in sorted(self.queues.items()):
            depth.add_metric([name], read())
        yield depth
        if self.circuits is not None:
            family = GaugeMetricFamily(f"{PREFIX}_circuit_state", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                                       labels=["service"])
            for service, state in sorted(self.circuits().items()):
                family.add_metric([service], CIRCUIT.get(state, 0))
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.interactions = Counter(f"{PREFIX}_interactions", "Slash commands by command and outcome",
                                    ["command", "outcome"], registry=r)
        self.ack_seconds = Histogram(f"{PREFIX}_interaction_ack_seconds", "From the interaction to its first response",
                                     ["command"], buckets=FAST, registry=r)
        self.answer_seconds = Histogram(f"{PREFIX}_answer_seconds", "From the request to the finished answer",
                                        ["kind"], buckets=SLOW, registry=r)
        self.llm_ttft_seconds = Histogram(f"{PREFIX}_llm_first_token_seconds", "Model time to first token",
                                          ["provider"], buckets=SLOW, registry=r)
        self.llm_tokens = Counter(f"{PREFIX}_llm_tokens", "Tokens by provider and kind (prompt, completion)",
                                  ["provider", "kind"], registry=r)
        self.llm_answers = Counter(f"{PREFIX}_llm_answers", "Model answers by provider and how they came",
                                   ["provider", "source"], registry=r)
        self.service_status = Gauge(f"{PREFIX}_service_status", "1 for each service's current status",
                                    ["service", "status"], registry=r)
        self.voice_stage_seconds = Histogram(f"{PREFIX}_voice_stage_seconds", "Time spent in each stage of a voice turn",
                                             ["stage"], buckets=FAST, registry=r)
        self.reminder_lateness_seconds = Histogram(f"{PREFIX}_reminder_lateness_seconds",
                                                   "Delivery time after the due time", buckets=FAST, registry=r)
        self.loop_lag_seconds = Histogram(f"{PREFIX}_event_loop_lag_seconds", "How late a timer fired on the event loop",
                                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                                          registry=r)
        self._callables = _Callables()
        r.register(self._callables)
        self._statuses: dict[str, str] = {}

    # --- sources read at scrape time ------------------------------------------------------------

    def watch_cache(self, read: Callable[[], tuple[Mapping[str, int], Mapping[str, int]]]) -> None:
        """`read()` -> (hits by namespace, misses by namespace), the cache's own counters."""
        self._callables.cache = read

    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        self._callables.queues[name] = depth

    def watch_circuits(self, read: Callable[[], Mapping[str, str]]) -> None:
        """`read()` -> {service: "closed" | "half_open" | "open"}."""
        self._callables.circuits = read

    # --- facts recorded as they happen ----------------------------------------------------------

    def interaction(self, command: str, outcome: str) -> None:
        self.interactions.labels(command, outcome).inc()

    def acknowledged(self, command: str, seconds: float) -> None:
        self.ack_seconds.labels(command).observe(max(0.0, seconds))

    def answer(self, kind: str, seconds: float) -> None:
        self.answer_seconds.labels(kind).observe(max(0.0, seconds))

    def llm_result(self, provider: str, *, ttft_s: float | None, prompt_tokens: int, completion_tokens: int,
                   cached: bool) -> None:
        self.llm_answers.labels(provider, "cache" if cached else "model").inc()
        if cached:
            return
        if ttft_s is not None:
            self.llm_ttft_seconds.labels(provider).observe(ttft_s)
        self.llm_tokens.labels(provider, "prompt").inc(prompt_tokens)
        self.llm_tokens.labels(provider, "completion").inc(completion_tokens)

    def service(self, service: str, status: str) -> None:
        """One status at a time per service: the old label goes to 0."""
        old = self._statuses.get(service)
        if old is not None and old != status:
            self.service_status.labels(service, old).set(0)
        self._statuses[service] = status
        self.service_status.labels(service, status).set(1)

    def voice_turn(self, stages: Mapping[str, float | None]) -> None:
        for stage, seconds in stages.items():
            if seconds is not None:
                self.voice_stage_seconds.labels(stage).observe(max(0.0, seconds))

    def reminder_delivered(self, late_by: float) -> None:
        self.reminder_lateness_seconds.observe(max(0.0, late_by))

    def loop_lag(self, seconds: float) -> None:
        self.loop_lag_seconds.observe(max(0.0, seconds))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """GET /metrics on METRICS_HOST:METRICS_PORT, on the bot's own event loop (a stalled loop shows as a
    failed scrape, which is itself the signal)."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("Prometheus metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
