"""What /voice shows, and the AudioSource that feeds discord.py's player from the queue."""

from __future__ import annotations

import asyncio

from cogs.voice import render_settings
from cogs.voice.session import QueueSource
from services.voice import GuildVoiceSettings, PcmQueue
from services.voice.playback import FRAME_BYTES


def test_settings_render_every_value_and_the_default_channel() -> None:
    text = render_settings(GuildVoiceSettings("af_bella(0.7)+af_sky(0.3)", 0.75, True, False, 123, "wake", "Jarvis",
                                              "separate"), changed=True)
    assert text.splitlines() == ["Voice settings saved:", "• voice: `af_bella(0.7)+af_sky(0.3)`", "• speed: 0.75",
                                 "• RVC: on", "• listening: off",
                                 "• transcripts and fallbacks: <#123> while everyone in the call can read it, "
                                 "else the call's own chat",
                                 "• answers: wake (only turns that start with the wake word)", "• wake word: `Jarvis`",
                                 "• memory: separate from text chat"]
    default = render_settings(GuildVoiceSettings("a", 1, False, True), changed=False)
    assert "the call's own text chat" in default and "• answers: always (every turn)" in default
    assert "• wake word: none" in default and "• memory: separate from text chat" in default
    shared = render_settings(GuildVoiceSettings("a", 1, False, True, memory="shared"), changed=False)
    assert "• memory: shared with the text chat the call writes in" in shared


async def test_queue_source_gives_pcm_frames_then_ends() -> None:
    queue = PcmQueue(asyncio.get_running_loop())
    source = QueueSource(queue)
    assert not source.is_opus()
    queue.push(b"\x01" * FRAME_BYTES)
    assert source.read() == b"\x01" * FRAME_BYTES
    assert source.read() == b""  # discord.py's player stops on an empty read
