"""Test PCM: make tones, measure what came back. PCM is signed 16-bit little-endian, interleaved.

Discord's voice format is 48 kHz stereo; the defaults follow it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from array import array

RATE = 48000
CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_SECONDS = 0.02  # Discord sends one 20 ms opus frame per packet


def _samples(pcm: bytes) -> array:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_BYTES])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _pcm(samples: array) -> bytes:
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def sine_tone(seconds: float, frequency: float = 440.0, *, sample_rate: int = RATE, channels: int = CHANNELS,
              amplitude: float = 0.5) -> bytes:
    """A pure tone, the same on every channel; `amplitude` is a fraction of full scale."""
    peak = amplitude * 32767
    step = 2 * math.pi * frequency / sample_rate
    frames = round(seconds * sample_rate)
    samples = array("h", bytes(frames * channels * SAMPLE_BYTES))
    for i in range(frames):
        value = int(peak * math.sin(step * i))
        for c in range(channels):
            samples[i * channels + c] = value
    return _pcm(samples)


def silence(seconds: float, *, sample_rate: int = RATE, channels: int = CHANNELS) -> bytes:
    return bytes(round(seconds * sample_rate) * channels * SAMPLE_BYTES)


def duration(pcm: bytes, *, sample_rate: int = RATE, channels: int = CHANNELS) -> float:
    return len(pcm) / (sample_rate * channels * SAMPLE_BYTES)


def rms(pcm: bytes) -> float:
    """Root mean square of all samples, in 16-bit units (full-scale sine ≈ 23170)."""
    samples = _samples(pcm)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def is_silence(pcm: bytes, *, threshold: float = 100.0) -> bool:
    """Quieter than `threshold` RMS (≈ -50 dBFS by default): decoded opus silence is exactly 0."""
    return rms(pcm) < threshold


def dominant_frequency(pcm: bytes, *, sample_rate: int = RATE, channels: int = CHANNELS) -> float:
    """Frequency of a tone from the first channel's zero crossings, with hysteresis so codec noise
    near zero does not count as crossings. Good for pure tones, meaningless for speech."""
    samples = _samples(pcm)[::channels]
    if not samples:
        return 0.0
    level = max(abs(min(samples)), abs(max(samples))) * 0.1
    state = 0
    crossings: list[int] = []
    for i, s in enumerate(samples):
        if s > level and state <= 0:
            if state < 0:
                crossings.append(i)
            state = 1
        elif s < -level and state >= 0:
            if state > 0:
                crossings.append(i)
            state = -1
    if len(crossings) < 3:
        return 0.0
    periods = (crossings[-1] - crossings[0]) / (len(crossings) - 1) * 2
    return sample_rate / periods


def split_frames(pcm: bytes, *, frame_ms: int = 20, sample_rate: int = RATE, channels: int = CHANNELS) -> list[bytes]:
    """Cut PCM into whole frames (20 ms by default), zero-padding the last one."""
    size = sample_rate * frame_ms // 1000 * channels * SAMPLE_BYTES
    frames = [pcm[i: i + size] for i in range(0, len(pcm), size)]
    if frames and len(frames[-1]) < size:
        frames[-1] = frames[-1].ljust(size, b"\x00")
    return frames


async def to_discord_pcm(pcm: bytes, *, sample_rate: int, channels: int) -> bytes:
    """48 kHz stereo PCM from any rate/channel count; ffmpeg does the resampling."""
    if sample_rate == RATE and channels == CHANNELS:
        return pcm
    if sample_rate == RATE and channels == 1:
        mono = _samples(pcm)
        stereo = array("h", bytes(len(mono) * 2 * SAMPLE_BYTES))
        stereo[0::2] = mono
        stereo[1::2] = mono
        return _pcm(stereo)
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels),
        "-i", "pipe:0", "-f", "s16le", "-ar", str(RATE), "-ac", str(CHANNELS), "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(pcm)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not convert the PCM: {err.decode(errors='replace').strip()}")
    return out
