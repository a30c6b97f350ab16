"""Recorded speech for bench/voice_latency.py: members' turns made with Piper, fed as Discord sends them.

A turn is a list of 20 ms frames (48 kHz stereo) and the index of its last frame of speech, found
from the audio itself (not from any voice activity detector, so every engine is measured from the
same moment). Multi-sentence passages are synthesized clause by clause with pauses between
clauses and sentences, as people pause when they talk, to count false cut-offs: turns committed
while the member still had more to say.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from devtools.fakes.engines import KOKORO_RATE, piper_sentences
from services.speech.audio import AudioClip, convert
from services.voice.endpoint import FRAME_BYTES

SILENT = bytes(FRAME_BYTES)
TRAILING_SILENCE_FRAMES = 5  # Discord clients send five opus silence frames, then nothing

# Each passage is one turn, spoken with pauses: after a comma (a clause) and between sentences.
PASSAGES = (
    "I was thinking about the trip, and I wonder if we should leave early. What do you think?",
    "So my printer stopped working yesterday. It shows a red light, and nothing prints. Can you help me?",
    "Tell me about Paris, especially the museums, and maybe a few good restaurants.",
    "First, turn off the lights in the kitchen. Then, lock the front door.",
    "My sister is coming next week, so I need a recipe for dinner. Something easy, with chicken.",
    "What is the tallest mountain in Europe? I always forget, and my friends keep asking me.",
    "I need a reminder for tomorrow morning, at nine, to call the dentist.",
    "Can you explain how rainbows form? I know it involves light, but not the details.",
    "We watched a film last night. It was long, but the ending was really good.",
    "Remind me, what was the name of that song? The one from the radio, this morning.",
)
CLAUSE_PAUSE = (0.20, 0.45)  # seconds, after a comma
SENTENCE_PAUSE = (0.30, 0.55)  # seconds, between sentences of one turn (below the 600 ms silence)


@dataclass(frozen=True)
class SpokenTurn:
    text: str
    frames: list[bytes]  # speech, then the trailing silence frames; no packets after that
    speech_end: int  # index of the last frame with speech in it
    pauses: int  # pauses inside the turn (where a cut-off could happen)


def to_frames(pcm24k: bytes) -> list[bytes]:
    stereo = convert(AudioClip(pcm24k, KOKORO_RATE, 1), 48_000, 2).pcm
    stereo += bytes(-len(stereo) % FRAME_BYTES)
    return [stereo[i:i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)]


def _loud(frame: bytes) -> bool:
    return int(np.abs(np.frombuffer(frame, dtype="<i2")).max()) > 600  # about -35 dBFS peak


def trimmed(frames: list[bytes]) -> list[bytes]:
    """Piper's leading and trailing quiet removed, so the pauses are exactly the ones we insert."""
    loud = [i for i, f in enumerate(frames) if _loud(f)]
    return frames[loud[0]:loud[-1] + 1] if loud else []


def single_turn(voice: Any, text: str) -> SpokenTurn:
    """One sentence as synthesized (its own small pauses included), preceded by 200 ms of quiet."""
    speech = trimmed(to_frames(b"".join(piper_sentences(voice, text))))
    frames = [SILENT] * 10 + speech + [SILENT] * TRAILING_SILENCE_FRAMES
    return SpokenTurn(text, frames, 10 + len(speech) - 1, 0)


def passage_turn(voice: Any, text: str, rng: random.Random) -> SpokenTurn:
    """A passage clause by clause, with a natural pause after each clause and sentence."""
    pieces = [p.strip() for p in re.findall(r"[^,.?!]+[,.?!]?", text) if p.strip()]
    frames: list[bytes] = [SILENT] * 10
    pauses = 0
    for index, piece in enumerate(pieces):
        frames += trimmed(to_frames(b"".join(piper_sentences(voice, piece))))
        if index + 1 < len(pieces):
            low, high = CLAUSE_PAUSE if piece.endswith(",") else SENTENCE_PAUSE
            frames += [SILENT] * round(rng.uniform(low, high) / 0.02)
            pauses += 1
    speech_end = len(frames) - 1
    return SpokenTurn(text, frames + [SILENT] * TRAILING_SILENCE_FRAMES, speech_end, pauses)
