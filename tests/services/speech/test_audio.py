"""PCM/WAV helpers: resampling keeps pitch and length, WAV parsing copes with real servers' files."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.fakes.speech_servers import ffmpeg_stream_wav_header, float_wav_bytes, tone
from services.speech import audio
from services.speech.audio import AudioClip, AudioFormatError, SampleAligner, StreamConverter


def sine(freq: float, seconds: float, rate: int, level: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_discord_stereo_becomes_whisper_mono_at_16k_with_the_same_pitch():
    left = sine(440, 1.0, 48_000)
    stereo = np.column_stack([left, left]).astype("<i2").tobytes()
    clip = audio.discord_to_whisper(stereo)
    assert (clip.sample_rate, clip.channels, clip.frames) == (16_000, 1, 16_000)
    samples = clip.samples()[:, 0]
    assert peak_hz(samples, 16_000) == pytest.approx(440, abs=2)
    assert audio.rms(clip.pcm) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_downmix_averages_the_channels():
    left = sine(300, 0.1, 48_000)
    stereo = np.column_stack([left, -left]).astype("<i2").tobytes()  # opposite phase cancels
    mono = audio.convert(AudioClip(stereo, 48_000, 2), 48_000, 1)
    assert np.abs(mono.samples()).max() <= 1


def test_kokoro_mono_24k_becomes_discord_stereo_48k():
    clip = AudioClip(sine(1000, 0.5, 24_000).tobytes(), 24_000, 1)
    out = np.frombuffer(audio.to_discord(clip), dtype="<i2").reshape(-1, 2)
    assert len(out) == 24_000
    assert np.array_equal(out[:, 0], out[:, 1])
    assert peak_hz(out[:, 0], 48_000) == pytest.approx(1000, abs=2)


def test_convert_is_identity_when_format_matches_and_handles_empty_clips():
    clip = AudioClip(b"\x01\x00\x02\x00", 16_000, 1)
    assert audio.convert(clip, 16_000, 1) is clip
    assert audio.convert(AudioClip(b"", 48_000, 2), 16_000, 1).pcm == b""


def test_clip_rejects_partial_frames_and_bad_formats():
    with pytest.raises(AudioFormatError):
        AudioClip(b"\x00\x00\x00", 48_000, 2)
    with pytest.raises(AudioFormatError):
        AudioClip(b"", 0, 1)


def test_rms_levels():
    assert audio.rms(b"") == 0.0
    assert audio.rms(bytes(960)) == 0.0
    square = np.array([32767, -32767] * 100, dtype="<i2").tobytes()
    assert audio.rms(square) == pytest.approx(1.0, abs=1e-4)
    assert audio.rms(square + b"\x01") == pytest.approx(1.0, abs=1e-4)  # a dangling byte is ignored


# --- WAV -------------------------------------------------------------------------------------

def test_wav_encode_is_read_back_by_the_standard_library():
    pcm = sine(200, 0.2, 16_000).tobytes()
    data = audio.wav_encode(AudioClip(pcm, 16_000, 1))
    with wave.open(io.BytesIO(data), "rb") as src:
        assert (src.getframerate(), src.getnchannels(), src.getsampwidth()) == (16_000, 1, 2)
        assert src.readframes(src.getnframes()) == pcm
    assert audio.wav_decode(data) == AudioClip(pcm, 16_000, 1)


def test_decodes_kokoro_streamed_wav_with_unknown_sizes_and_a_list_chunk():
    pcm = tone(0.3)
    clip = audio.wav_decode(ffmpeg_stream_wav_header(24_000) + pcm + b"\x07")  # and a trailing half sample
    assert (clip.sample_rate, clip.channels, clip.pcm) == (24_000, 1, pcm)


def _wav(fmt_body: bytes, data: bytes, *, extra: bytes = b"") -> bytes:
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_decodes_float_24_bit_8_bit_32_bit_and_extensible():
    pcm = sine(500, 0.05, 8_000)
    assert np.abs(audio.wav_decode(float_wav_bytes(pcm.tobytes(), 8_000)).samples()[:, 0] - pcm).max() <= 1

    as24 = b"".join(struct.pack("<i", int(v) << 8)[:3] for v in pcm)
    assert audio.wav_decode(_wav(struct.pack("<HHIIHH", 1, 1, 8_000, 24_000, 3, 24), as24)).pcm == pcm.tobytes()

    as32 = (pcm.astype("<i4") << 16).tobytes()
    assert audio.wav_decode(_wav(struct.pack("<HHIIHH", 1, 1, 8_000, 32_000, 4, 32), as32)).pcm == pcm.tobytes()

    as8 = ((pcm >> 8) + 128).astype(np.uint8).tobytes()
    decoded8 = audio.wav_decode(_wav(struct.pack("<HHIIHH", 1, 1, 8_000, 8_000, 1, 8), as8)).samples()[:, 0]
    assert np.abs(decoded8.astype(int) - pcm.astype(int)).max() < 256

    guid_pcm = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    ext = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 8_000, 32_000, 4, 16, 22, 16, 3) + guid_pcm
    stereo = np.column_stack([pcm, pcm]).astype("<i2").tobytes()
    clip = audio.wav_decode(_wav(ext, stereo))
    assert (clip.channels, clip.pcm) == (2, stereo)


def test_skips_odd_sized_chunks_before_data():
    pcm = sine(500, 0.01, 8_000).tobytes()
    odd = b"junk" + struct.pack("<I", 3) + b"abc" + b"\x00"  # odd size, padded to even
    clip = audio.wav_decode(_wav(struct.pack("<HHIIHH", 1, 1, 8_000, 16_000, 2, 16), pcm, extra=odd))
    assert clip.pcm == pcm


@pytest.mark.parametrize(("data", "message"), [
    (b"ID3\x04 mp3 bytes", "not a RIFF"),
    (b"RIFF\x00\x00\x00\x00WAVE", "no data chunk"),
    (_wav(struct.pack("<HHIIHH", 0x55, 1, 8_000, 1_000, 1, 0), b"xx"), "unsupported WAV encoding"),
    (_wav(struct.pack("<HHIIHH", 1, 1, 8_000, 16_000, 4, 16), b"xxxx"), "block alignment"),
    (b"RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00xx", "data chunk before fmt"),
])
def test_rejects_what_is_not_usable_wav(data, message):
    with pytest.raises(AudioFormatError, match=message):
        audio.wav_decode(data)


# --- streams ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=0, max_size=400), cuts=st.lists(st.integers(0, 400), max_size=12))
def test_sample_aligner_reassembles_any_split_into_whole_samples(data, cuts):
    aligner = SampleAligner()
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(data[start:cut])
        start = max(start, cut)
    pieces.append(data[start:])
    out = [aligner.feed(p) for p in pieces]
    assert all(len(o) % 2 == 0 for o in out)
    assert b"".join(out) == data[:len(data) - len(data) % 2]
    assert aligner.pending == len(data) % 2


def test_stream_converter_matches_whole_clip_conversion_despite_odd_chunks():
    pcm = sine(700, 0.5, 24_000).tobytes()
    converter = StreamConverter(24_000, 1)
    out = b""
    for i in range(0, len(pcm), 1001):  # odd sizes split samples
        out += converter.feed(pcm[i:i + 1001])
    out += converter.flush()
    streamed = np.frombuffer(out, dtype="<i2").reshape(-1, 2)
    assert len(streamed) == pytest.approx(24_000, abs=4)
    whole = np.frombuffer(audio.to_discord(AudioClip(pcm, 24_000, 1)), dtype="<i2").reshape(-1, 2)
    n = min(len(whole), len(streamed)) - 200
    assert np.abs(streamed[200:n].astype(int) - whole[200:n].astype(int)).max() < 400  # same signal, no clicks
    assert peak_hz(streamed[:, 0], 48_000) == pytest.approx(700, abs=3)


def test_stream_converter_without_resampling_only_remixes():
    converter = StreamConverter(48_000, 1)
    assert converter.feed(b"\x01\x00\x02") == b"\x01\x00\x01\x00"
    assert converter.feed(b"\x00") == b"\x02\x00\x02\x00"
    assert converter.flush() == b""
