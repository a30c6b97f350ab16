"""PCM and WAV helpers shared by the speech clients and the voice loop.

Discord sends and plays 48 kHz stereo s16le; Whisper wants 16 kHz mono; Kokoro speaks 24 kHz
mono; RVC answers at its model's rate. Resampling uses soxr (band-limited, fast, streaming), so
nothing here hand-rolls a filter. WAV parsing is our own because servers stream WAV with
placeholder sizes (0xFFFFFFFF) and use float or WAVE_FORMAT_EXTENSIBLE, which the standard
`wave` module rejects on Python 3.11.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass

import numpy as np
import soxr

DISCORD_RATE = 48_000
DISCORD_CHANNELS = 2
WHISPER_RATE = 16_000
SAMPLE_WIDTH = 2  # every clip we hand around is s16le

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class AudioFormatError(ValueError):
    """Bytes that are not audio we can read (bad header, unsupported encoding)."""


@dataclass(frozen=True)
class AudioClip:
    """Interleaved signed 16-bit little-endian PCM with its rate and channel count."""

    pcm: bytes
    sample_rate: int
    channels: int = 1

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.channels <= 0:
            raise AudioFormatError(f"bad clip format: {self.sample_rate} Hz, {self.channels} channels")
        if len(self.pcm) % (SAMPLE_WIDTH * self.channels):
            raise AudioFormatError("PCM length is not a whole number of frames")

    @property
    def frames(self) -> int:
        return len(self.pcm) // (SAMPLE_WIDTH * self.channels)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def samples(self) -> np.ndarray:
        """int16 array shaped (frames, channels)."""
        return np.frombuffer(self.pcm, dtype="<i2").reshape(-1, self.channels)


# --- format conversion -----------------------------------------------------------------------

def convert(clip: AudioClip, sample_rate: int, channels: int) -> AudioClip:
    """Resample and up/down-mix a clip; mono->stereo duplicates, stereo->mono averages.

    Resampling runs on the fewer channels (mix down first, up last): half the work, and the
    duplicated channels stay bit-identical.
    """
    if (clip.sample_rate, clip.channels) == (sample_rate, channels):
        return clip
    work = min(channels, clip.channels)
    data = _mix(clip.samples(), work)
    if clip.sample_rate != sample_rate and len(data):
        data = soxr.resample(data, clip.sample_rate, sample_rate, quality="HQ").reshape(-1, work)
    data = _mix(data, channels)
    return AudioClip(np.ascontiguousarray(data, dtype="<i2").tobytes(), sample_rate, channels)


def _mix(data: np.ndarray, channels: int) -> np.ndarray:
    have = data.shape[1]
    if have == channels:
        return data
    mono = data if have == 1 else data.astype(np.int32).mean(axis=1, keepdims=True).round().astype(np.int16)
    return mono if channels == 1 else np.repeat(mono, channels, axis=1)


def discord_to_whisper(pcm: bytes) -> AudioClip:
    """48 kHz stereo from a Discord receive sink -> 16 kHz mono for Whisper."""
    return convert(AudioClip(pcm, DISCORD_RATE, DISCORD_CHANNELS), WHISPER_RATE, 1)


def to_discord(clip: AudioClip) -> bytes:
    """Any clip (Kokoro's 24 kHz mono, RVC's 40 kHz...) -> 48 kHz stereo PCM for playback."""
    return convert(clip, DISCORD_RATE, DISCORD_CHANNELS).pcm


def rms(pcm: bytes) -> float:
    """Root mean square level of s16le PCM as a fraction of full scale (0.0 silence .. ~1.0)."""
    usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
    if not usable:
        return 0.0
    data = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(data * data)) / 32768.0)


class SampleAligner:
    """Re-cuts a byte stream into whole frames: HTTP chunks may split a sample (odd byte counts)."""

    def __init__(self, frame_bytes: int = SAMPLE_WIDTH) -> None:
        self._frame = frame_bytes
        self._rest = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._rest + chunk
        cut = len(data) - len(data) % self._frame
        self._rest = data[cut:]
        return data[:cut]

    @property
    def pending(self) -> int:
        """Bytes held back; non-zero at the end of a stream means it ended mid-sample."""
        return len(self._rest)


class StreamConverter:
    """Resamples a PCM stream chunk by chunk without clicks at chunk boundaries (soxr keeps state)."""

    def __init__(self, in_rate: int, in_channels: int, out_rate: int = DISCORD_RATE,
                 out_channels: int = DISCORD_CHANNELS) -> None:
        self._in_channels = in_channels
        self._out_channels = out_channels
        self._aligner = SampleAligner(SAMPLE_WIDTH * in_channels)
        self._work_channels = min(in_channels, out_channels)
        self._stream = (soxr.ResampleStream(in_rate, out_rate, self._work_channels, dtype="int16", quality="HQ")
                        if in_rate != out_rate else None)

    def feed(self, chunk: bytes) -> bytes:
        return self._run(self._aligner.feed(chunk), last=False)

    def flush(self) -> bytes:
        """The resampler's delayed tail; call once at the end of the stream."""
        return self._run(b"", last=True)

    def _run(self, pcm: bytes, *, last: bool) -> bytes:
        data = _mix(np.frombuffer(pcm, dtype="<i2").reshape(-1, self._in_channels), self._work_channels)
        if self._stream is not None:
            data = self._stream.resample_chunk(np.ascontiguousarray(data), last=last)
        data = _mix(data.reshape(-1, self._work_channels), self._out_channels)
        return np.ascontiguousarray(data, dtype="<i2").tobytes()


# --- WAV -------------------------------------------------------------------------------------

def wav_encode(clip: AudioClip) -> bytes:
    """A canonical 44-byte-header PCM WAV, what every Whisper server and RVC accept."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(clip.channels)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(clip.sample_rate)
        out.writeframes(clip.pcm)
    return buffer.getvalue()


def wav_decode(data: bytes) -> AudioClip:
    """Any PCM/float WAV (8/16/24/32-bit, float32/64, extensible, streamed sizes) -> s16 clip."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body:body + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioFormatError("data chunk before fmt chunk")
            end = len(data) if size in _UNKNOWN_SIZES or body + size > len(data) else body + size
            return _to_clip(data[body:end], *fmt)
        pos = body + size + (size & 1)
    raise AudioFormatError("no data chunk")


def _parse_fmt(body: bytes) -> tuple[int, int, int, int, int]:
    if len(body) < 16:
        raise AudioFormatError("fmt chunk too short")
    encoding, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if encoding == _EXTENSIBLE:
        if len(body) < 26:
            raise AudioFormatError("extensible fmt chunk too short")
        encoding = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if encoding not in (_PCM, _FLOAT):
        raise AudioFormatError(f"unsupported WAV encoding 0x{encoding:04x} (only PCM and float)")
    if channels == 0 or rate == 0 or bits == 0 or bits % 8:
        raise AudioFormatError(f"bad WAV format: {channels} channels, {rate} Hz, {bits} bits")
    if block_align != channels * bits // 8:
        raise AudioFormatError(f"bad WAV block alignment {block_align} for {channels}x{bits} bits")
    return encoding, channels, rate, bits, block_align


def _to_clip(raw: bytes, encoding: int, channels: int, rate: int, bits: int, block_align: int) -> AudioClip:
    raw = raw[:len(raw) - len(raw) % block_align]
    if encoding == _FLOAT:
        if bits not in (32, 64):
            raise AudioFormatError(f"unsupported float width {bits}")
        floats = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8")
        samples = (np.clip(np.nan_to_num(floats), -1.0, 1.0) * 32767.0).round().astype("<i2")
    elif bits == 8:
        samples = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype("<i2")
    elif bits == 16:
        samples = np.frombuffer(raw, dtype="<i2")
    elif bits == 24:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        samples = (triples[:, 1].astype(np.uint16) | (triples[:, 2].astype(np.uint16) << 8)).view("<i2")
    elif bits == 32:
        samples = (np.frombuffer(raw, dtype="<i4") >> 16).astype("<i2")
    else:
        raise AudioFormatError(f"unsupported sample width {bits} bits")
    return AudioClip(np.ascontiguousarray(samples).tobytes(), rate, channels)
