"""Sounds that are not speech, for voice activity tests: mains hum, music-like chords, clicks.

Deterministic (seeded) 48 kHz mono s16le, loud enough to pass any level gate, so only the voice
activity detector can tell them from speech.
"""

from __future__ import annotations

import numpy as np

RATE = 48_000

# Triads (root, third, fifth) of a I-vi-IV-V progression in C, then the same an octave down.
_PROGRESSION = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63),
                (196.00, 246.94, 293.66))


def _pcm(signal: np.ndarray) -> bytes:
    return (np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()


def hum(seconds: float = 3.0, mains: float = 50.0, level: float = 0.25) -> bytes:
    """Mains hum with its harmonics and a little hiss: a fan, a ground loop, a fridge."""
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(50)
    wave = sum(a * np.sin(2 * np.pi * mains * k * t + k) for k, a in ((1, 1.0), (2, 0.6), (3, 0.4), (5, 0.2)))
    return _pcm(level * wave / 2.2 + rng.normal(0, 0.003, len(t)))


def chords(seconds: float = 4.0, level: float = 0.3, octave: float = 1.0) -> bytes:
    """Plucked, decaying chords with harmonics, changing every half second: music from a speaker."""
    n = round(seconds * RATE)
    out = np.zeros(n)
    step = RATE // 2
    for index, start in enumerate(range(0, n, step)):
        t = np.arange(min(step, n - start)) / RATE
        envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * 3.0)
        for freq in _PROGRESSION[index % len(_PROGRESSION)]:
            for harmonic, amp in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12)):
                out[start:start + len(t)] += amp * np.sin(2 * np.pi * freq * octave * harmonic * t) * envelope
    return _pcm(level * out / np.abs(out).max())


def clicks(seconds: float = 3.0, every: float = 0.25, level: float = 0.8) -> bytes:
    """Sharp clicks: a keyboard, a mouse, a pen on a desk."""
    n = round(seconds * RATE)
    out = np.zeros(n)
    rng = np.random.default_rng(7)
    width = RATE // 1000 * 2  # 2 ms
    for start in range(0, n - width, round(every * RATE)):
        out[start:start + width] = rng.uniform(-level, level, width) * np.exp(-np.arange(width) / (width / 4))
    return _pcm(out)
