"""Voice conversation without discord: receive parsing, endpointing, sentences, playback, the turn loop."""

from services.voice.conversation import BargedIn, Output, Speaker, TurnResult, TurnTimings, VoiceConversation
from services.voice.endpoint import EndpointConfig, Endpointer, Utterance
from services.voice.optouts import VoiceOptOutStore
from services.voice.playback import PcmQueue
from services.voice.sentences import SentenceCutter, speakable
from services.voice.settings_store import GuildVoiceSettings, VoiceSettingsStore

__all__ = [
    "BargedIn", "EndpointConfig", "Endpointer", "GuildVoiceSettings", "Output", "PcmQueue", "SentenceCutter", "Speaker",
    "TurnResult", "TurnTimings", "Utterance", "VoiceConversation", "VoiceOptOutStore", "VoiceSettingsStore",
    "speakable",
]
