"""The metrics registry: what each recorder adds, values read at scrape time, and the endpoint."""

from __future__ import annotations

import socket
from collections import Counter

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from services.metrics import Metrics, MetricsServer


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_recorders_count_and_observe() -> None:
    m = Metrics()
    m.interaction("chat", "ok")
    m.interaction("chat", "ok")
    m.interaction("health", "refused")
    m.acknowledged("chat", 0.012)
    m.answer("/chat", 1.5)
    m.llm_result("ollama", ttft_s=0.3, prompt_tokens=40, completion_tokens=12, cached=False)
    m.llm_result("ollama", ttft_s=None, prompt_tokens=40, completion_tokens=12, cached=True)
    m.voice_turn({"stt": 0.4, "tts": None})
    m.reminder_delivered(0.02)
    got = samples(m)
    assert got[("discordbot_interactions_total", (("command", "chat"), ("outcome", "ok")))] == 2
    assert got[("discordbot_interactions_total", (("command", "health"), ("outcome", "refused")))] == 1
    assert got[("discordbot_interaction_ack_seconds_count", (("command", "chat"),))] == 1
    assert got[("discordbot_llm_tokens_total", (("kind", "completion"), ("provider", "ollama")))] == 12
    assert got[("discordbot_llm_answers_total", (("provider", "ollama"), ("source", "cache")))] == 1
    assert got[("discordbot_llm_first_token_seconds_count", (("provider", "ollama"),))] == 1
    assert got[("discordbot_voice_stage_seconds_count", (("stage", "stt"),))] == 1
    assert ("discordbot_voice_stage_seconds_count", (("stage", "tts"),)) not in got
    assert got[("discordbot_reminder_lateness_seconds_count", ())] == 1


def test_a_service_has_one_status_at_a_time() -> None:
    m = Metrics()
    m.service("llm:ollama", "healthy")
    m.service("llm:ollama", "down")
    got = samples(m)
    assert got[("discordbot_service_status", (("service", "llm:ollama"), ("status", "down")))] == 1
    assert got[("discordbot_service_status", (("service", "llm:ollama"), ("status", "healthy")))] == 0


def test_watched_values_are_read_at_scrape_time() -> None:
    m = Metrics()
    hits, misses = Counter({"search:wikipedia": 2}), Counter({"search:wikipedia": 1, "llm": 4})
    depth = [3]
    circuits = {"llm:ollama": "open", "tts:kokoro": "closed"}
    m.watch_cache(lambda: (hits, misses))
    m.watch_queue("llm:ollama", lambda: depth[0])
    m.watch_circuits(lambda: circuits)
    hits["search:wikipedia"] += 1
    depth[0] = 5
    got = samples(m)
    assert got[("discordbot_cache_lookups_total", (("namespace", "search:wikipedia"), ("result", "hit")))] == 3
    assert got[("discordbot_cache_lookups_total", (("namespace", "llm"), ("result", "hit")))] == 0
    assert got[("discordbot_queue_depth", (("queue", "llm:ollama"),))] == 5
    assert got[("discordbot_circuit_state", (("service", "llm:ollama"),))] == 2
    assert got[("discordbot_circuit_state", (("service", "tts:kokoro"),))] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_endpoint_serves_the_text_format() -> None:
    m = Metrics()
    m.interaction("chat", "ok")
    server = MetricsServer(m, "127.0.0.1", free_port())
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                assert 'discordbot_interactions_total{command="chat",outcome="ok"} 1.0' in await response.text()
    finally:
        await server.stop()


def test_the_grafana_dashboard_only_queries_metrics_the_bot_exports() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    m = Metrics()
    m.watch_cache(lambda: ({"x": 1}, {"x": 1}))
    m.watch_circuits(lambda: {"x": "closed"})
    m.watch_queue("x", lambda: 0)
    m.service("x", "healthy")
    exported = {s.name for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples}
    exported |= {f"{metric._name}_bucket" for metric in (m.ack_seconds, m.answer_seconds, m.llm_ttft_seconds,
                                                         m.voice_stage_seconds, m.reminder_lateness_seconds,
                                                         m.loop_lag_seconds)}
    exported |= {f"{metric._name}_total" for metric in (m.llm_tokens, m.interactions)}
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"discordbot_\w+", target["expr"])}
    assert used and used <= exported, used - exported
