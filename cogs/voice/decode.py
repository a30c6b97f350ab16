"""One member's incoming audio: a jitter buffer (services/voice/jitter.py) in front of their opus decoder.

Packets are decoded in sequence order, not arrival order; a lost packet is concealed rather than
skipped, so the member's timeline keeps its length: with opus in-band FEC when the next packet is
at hand (Discord clients encode with FEC on), else with the decoder's packet-loss concealment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from discord import opus

from services.voice.jitter import JitterBuffer, JitterStats, Slot

log = logging.getLogger(__name__)


@dataclass
class DecodeStats:
    decoded: int = 0
    fec: int = 0  # lost packets rebuilt from the next packet's FEC data
    plc: int = 0  # lost packets concealed without it
    errors: int = 0


class SpeakerDecoder:
    """Not thread-safe: the receiver calls it under its lock."""

    def __init__(self, stats: DecodeStats, jitter: JitterStats | None = None) -> None:
        self.buffer = JitterBuffer(stats=jitter) if jitter is not None else JitterBuffer()
        self.decoder = opus.Decoder()
        self.stats = stats

    def push(self, sequence: int, frame: bytes, now: float) -> list[bytes]:
        """One packet's (opened) opus frame -> the PCM frames now ready, in order."""
        return self._decode(self.buffer.push(sequence, frame, now))

    def drain(self, now: float) -> list[bytes]:
        return self._decode(self.buffer.drain(now))

    def _decode(self, slots: list[Slot]) -> list[bytes]:
        out = []
        for index, slot in enumerate(slots):
            try:
                if slot.frame is not None:
                    pcm = self.decoder.decode(slot.frame, fec=False)
                else:
                    following = slots[index + 1] if index + 1 < len(slots) else None
                    if following is not None and following.frame is not None:
                        pcm = self.decoder.decode(following.frame, fec=True)
                        self.stats.fec += 1
                    else:
                        pcm = self.decoder.decode(None, fec=False)
                        self.stats.plc += 1
            except opus.OpusError as exc:
                self.stats.errors += 1
                log.debug("Could not decode opus frame %d: %s", slot.sequence, exc)
                continue
            self.stats.decoded += 1
            out.append(pcm)
        return out
