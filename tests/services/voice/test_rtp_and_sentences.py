"""Transport decryption of received packets (built by the emulator's independent RTP code) and the
sentence cutter that feeds TTS from a token stream."""

from __future__ import annotations

import os

import pytest

from devtools.discord_emulator.voice_rtp import (
    VIDEO_PAYLOAD_TYPE,
    build_rtcp_sender_report,
    build_rtp,
    one_byte_extension,
)
from services.voice.rtp import AudioPacket, Skip, parse_audio
from services.voice.sentences import SentenceCutter, speakable

KEY = os.urandom(32)
OPUS = b"\xfc" + bytes(range(1, 80))


@pytest.mark.parametrize("extension", [None, one_byte_extension((1, b"\x00")),
                                       one_byte_extension((1, b"\x01\x02\x03"), (3, bytes(16)))])
def test_opus_payload_is_decrypted_with_or_without_header_extensions(extension: bytes | None) -> None:
    packet = build_rtp(KEY, sequence=65535, timestamp=123456, ssrc=0xDEADBEEF, payload=OPUS, nonce=77,
                       extension=extension)
    assert parse_audio(KEY, packet) == AudioPacket(0xDEADBEEF, 65535, 123456, OPUS)


def test_what_is_not_audio_is_classified_not_raised() -> None:
    assert parse_audio(KEY, build_rtcp_sender_report(KEY, ssrc=5, nonce=1, rtp_timestamp=0)) is Skip.RTCP
    video = build_rtp(KEY, sequence=1, timestamp=0, ssrc=6, payload=bytes(100), nonce=2,
                      payload_type=VIDEO_PAYLOAD_TYPE)
    assert parse_audio(KEY, video) is Skip.NOT_AUDIO
    good = build_rtp(KEY, sequence=1, timestamp=0, ssrc=6, payload=OPUS, nonce=3)
    assert parse_audio(os.urandom(32), good) is Skip.DECRYPT
    assert parse_audio(KEY, good[:-5] + bytes([good[-5] ^ 1]) + good[-4:]) is Skip.DECRYPT
    assert parse_audio(KEY, good[:20]) is Skip.SHORT
    assert parse_audio(KEY, b"\x00" * 40) is Skip.NOT_RTP
    assert parse_audio(KEY, b"") is Skip.SHORT


def cut_stream(text: str, piece: int) -> list[str]:
    cutter = SentenceCutter()
    out: list[str] = []
    for i in range(0, len(text), piece):
        out += cutter.feed(text[i:i + piece])
    return out + cutter.flush()


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_sentences_come_out_whole_whatever_the_token_boundaries(piece: int) -> None:
    text = ("Dr. Smith paid 3.50 dollars, e.g. for tea. Really?! Yes… it was fine.\n"
            "- **Bold** point with a [link](https://example.com)\nThe end")
    assert cut_stream(text, piece) == [
        "Dr. Smith paid 3.50 dollars, e.g. for tea.", "Really?! Yes…", "it was fine.",
        "Bold point with a link", "The end",
    ]


def test_a_sentence_is_released_as_soon_as_it_ends() -> None:
    cutter = SentenceCutter()
    assert cutter.feed("Paris is the capital of France.") == []  # the end is not sure until a space follows
    assert cutter.feed(" It is") == ["Paris is the capital of France."]
    assert cutter.flush() == ["It is"]


def test_short_sentences_are_joined_and_empty_ones_dropped() -> None:
    assert cut_stream("Hi. Ok. So here is the actual answer. ... *** \n\n", 2) == [
        "Hi. Ok. So here is the actual answer."]
    assert cut_stream("Yes.", 5) == ["Yes."]
    assert speakable("`code` and ## heading > quote") == "code and heading quote"


def cut_words(text: str, cutter: SentenceCutter) -> list[str]:
    out = []
    for word in text.split(" "):
        out += cutter.feed(word + " ")
    return out + cutter.flush()


def test_the_first_piece_may_be_the_first_clause_later_ones_stay_sentences() -> None:
    text = "Well, yes, Paris is the capital of France, and it is lovely. It sits on the Seine, a river. Done here."
    assert cut_words(text, SentenceCutter(first_clause_words=4)) == [
        "Well, yes, Paris is the capital of France,", "and it is lovely.", "It sits on the Seine, a river.",
        "Done here."]
    assert cut_words(text, SentenceCutter())[0] == "Well, yes, Paris is the capital of France, and it is lovely."
    # No clause before the first sentence ends: the first sentence, as before. Numbers are not clauses.
    assert cut_words("Paris is the capital. It is, I think, big.", SentenceCutter(first_clause_words=4)) == [
        "Paris is the capital.", "It is, I think, big."]
    assert cut_words("About 2,000,000 people live there, more or less.", SentenceCutter(first_clause_words=4)) == [
        "About 2,000,000 people live there,", "more or less."]
