"""Whisper's inventions on silence are dropped only when they are the whole transcript."""

from __future__ import annotations

import pytest

from services.speech.hallucination import is_hallucination, normalize


@pytest.mark.parametrize("text", [
    "Thank you.",
    " thank you ",
    "THANK YOU!",
    "Thanks for watching!",
    "Thank you for watching.",
    "you",
    "You.",
    "[BLANK_AUDIO]",
    " [BLANK_AUDIO] ",
    "(music)",
    "♪ ♪",
    "[Music] [Applause]",
    "Subtitles by the Amara.org community",
    "Sous-titres réalisés par la communauté d'Amara.org",
    "Transcription by CastingWords",
    "Thank you. Thank you. Thank you.",
    "Please subscribe to my channel.",
    "Don't forget to like and subscribe!",
    "ご視聴ありがとうございました",
    "",
    " ... ",
])
def test_known_hallucinations_are_dropped(text):
    assert is_hallucination(text)


@pytest.mark.parametrize("text", [
    "Thank you, that helps a lot.",
    "You should try the other one.",
    "What's the weather like?",
    "Can you thank Bob for me?",
    "Play some music",
    "Hello",
    "I watched the subtitles by accident and they were wrong about everything in the film we saw",
    "Ok",
])
def test_real_speech_is_kept(text):
    assert not is_hallucination(text)


def test_normalize_folds_case_punctuation_and_apostrophes():
    assert normalize("  Don't  STOP—now!! ") == "dont stop now"
