"""DAVE (end-to-end) layer of received audio: opens each member's frame with the call's DAVE session.

The decoder must never see garbage: a frame that cannot be opened (unknown user, keys changing as
members join or leave, tampering) becomes opus silence, which decodes to quiet PCM. Unencrypted
frames are accepted when the call has no DAVE, while the group is not formed yet (clients speak in
the clear until then), and otherwise only if the session's passthrough window allows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import davey

from services.voice.rtp import OPUS_SILENCE

log = logging.getLogger(__name__)

MARKER = b"\xfa\xfa"  # the last two bytes of every DAVE-encrypted frame


class DaveLike(Protocol):
    """The parts of davey.DaveSession used here (discord.py keeps one per voice connection)."""

    @property
    def ready(self) -> bool: ...

    def decrypt(self, user_id: int, media_type: davey.MediaType, packet: bytes) -> bytes: ...


@dataclass
class DaveStats:
    decrypted: int = 0
    passthrough: int = 0
    failed: int = 0


class FrameOpener:
    """Opens frames for one connection; reads the session anew each time (it is replaced on re-init)."""

    def __init__(self) -> None:
        self.stats = DaveStats()

    def open(self, session: DaveLike | None, protocol_version: int, user_id: int, frame: bytes) -> bytes:
        if frame == OPUS_SILENCE:
            return frame
        encrypted = frame.endswith(MARKER)
        if session is None or protocol_version == 0:
            if encrypted:  # E2EE audio in a call we think has none: never feed it to the decoder
                self.stats.failed += 1
                return OPUS_SILENCE
            self.stats.passthrough += 1
            return frame
        if not encrypted and not session.ready:
            self.stats.passthrough += 1
            return frame
        try:  # davey returns an unencrypted frame as is while passthrough is on, and raises otherwise
            plain = session.decrypt(user_id, davey.MediaType.audio, frame)
        except (ValueError, RuntimeError) as exc:  # NoDecryptorForUser, NoValidCryptorFound, not ready
            self.stats.failed += 1
            if self.stats.failed in (1, 10, 100) or self.stats.failed % 1000 == 0:
                log.debug("DAVE could not open a frame of user %s (%s failures so far): %s",
                          user_id, self.stats.failed, exc)
            return OPUS_SILENCE
        if encrypted:
            self.stats.decrypted += 1
        else:
            self.stats.passthrough += 1
        return plain
