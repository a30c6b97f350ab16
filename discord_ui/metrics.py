"""The Discord side of the metrics: when each interaction was acknowledged.

discord.py sends every interaction response (defer, message, modal) as a POST to
`/interactions/{id}/{token}/callback` on its own aiohttp session, which takes a trace config
(`Client(http_trace=...)`). The time from the interaction's snowflake to the end of that request is
its acknowledgement latency, measured without touching a single command. The command's name comes
from the metrics cog's `on_interaction`; the two arrive in either order.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp
import discord

from services.metrics import Metrics

CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
REMEMBERED = 1000  # interactions whose other half has not arrived yet (bounded: a lost half is dropped)


class AckTracker:
    def __init__(self, metrics: Metrics, *, clock: Callable[[], float] = time.time) -> None:
        self.metrics = metrics
        self._clock = clock
        self._names: OrderedDict[int, str] = OrderedDict()
        self._acks: OrderedDict[int, float] = OrderedDict()

    def trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_request_end)
        return trace

    def named(self, interaction_id: int, command: str) -> None:
        """The interaction `interaction_id` runs `command` (from on_interaction)."""
        seconds = self._acks.pop(interaction_id, None)
        if seconds is not None:
            self.metrics.acknowledged(command, seconds)
        else:
            _remember(self._names, interaction_id, command)

    async def _on_request_end(self, session: aiohttp.ClientSession, context: SimpleNamespace,
                              params: aiohttp.TraceRequestEndParams) -> None:
        match = CALLBACK.search(params.url.path)
        if params.method != "POST" or match is None or params.response.status >= 400:
            return
        interaction_id = int(match.group(1))
        seconds = self._clock() - discord.utils.snowflake_time(interaction_id).timestamp()
        command = self._names.pop(interaction_id, None)
        if command is not None:
            self.metrics.acknowledged(command, seconds)
        else:
            _remember(self._acks, interaction_id, seconds)


def _remember(store: OrderedDict[int, object], key: int, value: object) -> None:
    store[key] = value
    while len(store) > REMEMBERED:
        store.popitem(last=False)
