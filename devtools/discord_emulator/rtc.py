"""The bridge to the voice server (devtools/discord_emulator/voice.py, another module's job).

The gateway only hands out sessions: the voice server starts on first use, with the emulator's TLS
certificate. Without the voice module, voice state events still flow but VOICE_SERVER_UPDATE carries
no endpoint (as Discord does while it allocates a server), so the bot's connect simply times out.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from devtools.discord_emulator.certs import TestCertificates

log = logging.getLogger(__name__)
VOICE_MODULE = "devtools.discord_emulator.voice"


def voice_module() -> Any | None:
    try:
        return importlib.import_module(VOICE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != VOICE_MODULE:
            raise
        return None


class VoiceLink:
    def __init__(self, certificates: TestCertificates | None, options: dict[str, Any] | None = None) -> None:
        self.certificates = certificates
        self.options = options or {}  # passed to VoiceServer, e.g. {"dave": True}
        self.server: Any | None = None  # devtools.discord_emulator.voice.VoiceServer once started
        self._lock = asyncio.Lock()

    async def get(self) -> Any | None:
        """The running voice server, started on first call; None when voice is unavailable."""
        async with self._lock:
            if self.server is None and self.certificates is not None:
                module = voice_module()
                if module is None:
                    log.warning("no %s module: voice connections cannot complete", VOICE_MODULE)
                    return None
                server = module.VoiceServer(self.certificates.server_context(), **self.options)
                await server.start()
                self.server = server
            return self.server

    async def stop(self) -> None:
        async with self._lock:
            if self.server is not None:
                await self.server.stop()
                self.server = None
