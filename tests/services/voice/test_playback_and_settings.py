"""The playback queue the player thread reads, and per-guild voice settings (on both backends)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.storage.backend import Backend
from services.voice import GuildVoiceSettings, PcmQueue
from services.voice.playback import FRAME_BYTES, SILENCE
from tests.conftest import Backends

DEFAULTS = GuildVoiceSettings(voice="af_heart", speed=1.0, rvc=False, listen=True)


async def test_frames_come_out_in_order_and_a_short_tail_is_padded() -> None:
    queue = PcmQueue(asyncio.get_running_loop())
    queue.push(b"\x01" * (FRAME_BYTES + 100))
    queue.push(b"\x02" * 100)
    assert queue.read() == b"\x01" * FRAME_BYTES
    assert queue.read() == (b"\x01" * 100 + b"\x02" * 100).ljust(FRAME_BYTES, b"\0")
    assert queue.read() == b""
    await asyncio.wait_for(queue.wait_idle(), 1)
    assert queue.frames_played == 2


async def test_an_open_segment_keeps_the_player_alive_with_silence() -> None:
    queue = PcmQueue(asyncio.get_running_loop())
    generation = queue.open_segment()
    assert queue.busy and queue.read() == SILENCE
    queue.push(b"\x03" * FRAME_BYTES, generation)
    assert queue.read() == b"\x03" * FRAME_BYTES
    await asyncio.wait_for(queue.wait_audio(), 1)
    queue.close_segment(generation)
    assert queue.read() == b""
    await asyncio.wait_for(queue.wait_idle(), 1)


async def test_clear_drops_everything_and_refuses_late_pushes_of_the_old_generation() -> None:
    queue = PcmQueue(asyncio.get_running_loop())
    old = queue.open_segment()
    queue.push(bytes(FRAME_BYTES * 10), old)
    assert queue.clear() == FRAME_BYTES * 10
    assert not queue.push(b"\x01" * FRAME_BYTES, old)
    queue.close_segment(old)  # ignored: that segment is gone
    assert queue.read() == b""
    await asyncio.wait_for(queue.wait_idle(), 1)
    new = queue.open_segment()
    assert queue.push(b"\x01" * FRAME_BYTES, new)


async def test_a_reader_thread_and_the_loop_agree_on_idleness() -> None:
    queue = PcmQueue(asyncio.get_running_loop())
    total = 200
    got: list[bytes] = []

    def player() -> None:
        while len(got) < total:
            frame = queue.read()
            if frame and frame != SILENCE:
                got.append(frame)

    thread = threading.Thread(target=player)
    generation = queue.open_segment()
    thread.start()
    for i in range(total):
        queue.push(bytes([i % 250 + 1]) * FRAME_BYTES, generation)
        await asyncio.sleep(0)
    queue.close_segment(generation)
    await asyncio.to_thread(thread.join, 5)
    await asyncio.wait_for(queue.wait_idle(), 2)
    assert [f[0] for f in got] == [i % 250 + 1 for i in range(total)]


async def test_settings_default_then_persist_across_a_reopen(backends: Backends) -> None:
    before = await backends.open()
    store = before.voice_settings(DEFAULTS)
    assert await store.get(1) == DEFAULTS
    changed = await store.update(1, voice="af_bella+af_sky", speed=1.25, listen=False, text_channel_id=2**62)
    assert changed == GuildVoiceSettings("af_bella+af_sky", 1.25, False, False, 2**62)
    assert (await store.update(1, rvc=True)).voice == "af_bella+af_sky"
    assert await store.get(2) == DEFAULTS
    with pytest.raises(ValueError, match="unknown voice settings"):
        await store.update(1, volume=11)
    await before.close()
    store = (await backends.open()).voice_settings(DEFAULTS)
    assert await store.get(1) == GuildVoiceSettings("af_bella+af_sky", 1.25, True, False, 2**62)
    await store.reset(1)
    assert await store.get(1) == DEFAULTS


async def test_addressing_wake_word_and_memory_are_stored_only_when_chosen(backend: Backend) -> None:
    store = backend.voice_settings(DEFAULTS)
    assert (DEFAULTS.address, DEFAULTS.wake_word, DEFAULTS.memory) == ("always", "", "separate")
    chosen = await store.update(1, address="name", wake_word="Jarvis", memory="shared")
    assert (chosen.address, chosen.wake_word, chosen.memory) == ("name", "Jarvis", "shared")
    cleared = await store.update(1, wake_word="")
    assert cleared.wake_word == "" and cleared.address == "name"  # "" is a choice (no wake word), not "unset"
    assert (await store.update(2, speed=1.5)).address == "always"
    with pytest.raises(ValueError, match="unknown voice settings"):
        await store.update(1, wake="x")


async def test_a_changed_default_still_reaches_servers_that_kept_it(backend: Backend) -> None:
    """Only what a server chose is stored: after `/voice speed:1.5`, a new KOKORO_VOICE still applies to it."""
    await backend.voice_settings(DEFAULTS).update(1, speed=1.5)
    await backend.voice_settings(DEFAULTS).update(2, voice="af_sky")
    restarted = backend.voice_settings(GuildVoiceSettings(voice="bf_emma", speed=0.9, rvc=True, listen=False))
    assert await restarted.get(1) == GuildVoiceSettings("bf_emma", 1.5, True, False, None)
    assert await restarted.get(2) == GuildVoiceSettings("af_sky", 0.9, True, False, None)
    assert await restarted.get(3) == restarted.defaults
