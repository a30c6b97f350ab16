"""Any audio file (Discord voice messages are OGG/Opus) to PCM, through ffmpeg, already a dependency of
voice playback: no second decoder to keep up to date. `max_seconds` bounds both the work and the output."""

from __future__ import annotations

import asyncio

from services.speech.audio import AudioClip, AudioFormatError

DECODE_TIMEOUT = 60.0


async def decode_audio(data: bytes, *, sample_rate: int = 16_000, max_seconds: float = 300.0) -> AudioClip:
    """Mono s16le at `sample_rate`, at most `max_seconds` long; AudioFormatError when it is not audio."""
    try:
        process = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-t", f"{max_seconds:g}",
            "-vn", "-f", "s16le", "-ac", "1", "-ar", str(sample_rate), "pipe:1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise AudioFormatError("ffmpeg is not installed, so audio files cannot be decoded") from None
    try:
        pcm, err = await asyncio.wait_for(process.communicate(data), DECODE_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AudioFormatError(f"decoding took longer than {DECODE_TIMEOUT:g} s") from None
    if process.returncode != 0 or not pcm:
        reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no audio in the file"]
        raise AudioFormatError(f"not audio ffmpeg can read: {reason[0][:200]}")
    return AudioClip(pcm[: len(pcm) // 2 * 2], sample_rate, 1)
