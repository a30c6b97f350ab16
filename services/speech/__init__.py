"""Speech clients: Kokoro TTS, Whisper STT (OpenAI-compatible or whisper.cpp), RVC voice conversion."""

from services.speech.audio import AudioClip, AudioFormatError
from services.speech.base import STT, TTS, SpeechService, Transcript, VoiceConverter
from services.speech.factory import SpeechServices, build_speech

__all__ = [
    "STT", "TTS", "AudioClip", "AudioFormatError", "SpeechService", "SpeechServices", "Transcript",
    "VoiceConverter", "build_speech",
]
