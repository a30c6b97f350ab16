"""Voice turn latency: from the end of a member's speech to the first packet of the answer.

Run: .venv/bin/python bench/voice_latency.py [--runs 12] [--silence-ms 600]

Real engines offline on 127.0.0.1 in this process: Piper behind Kokoro's API (TTS) and
faster-whisper tiny.en behind Whisper's API (STT), from devtools/fakes/engines.py; the model is the
fake Ollama server (devtools/fakes/llm_server.py) writing a three-sentence answer at --token-delay per
word after --model-ttft. The member's question is real speech (Piper), endpointed by the real
Endpointer; a player thread reads the PcmQueue every 20 ms as discord.py's does. Per turn:
  endpointing  = decided end - last voiced frame (set by VOICE_SILENCE_MS)
  STT          = transcript back - utterance handed over
  LLM 1st sent = first whole sentence cut from the stream - request sent
  TTS 1st sent = first PCM of the first sentence queued - its TTS request sent
  overhead     = the rest of (first audio frame read - end of speech): the bot's own work
The sequential way (whole answer, then whole TTS, then play) is measured in the same run, turns
interleaved. Goals: overhead < 50 ms at p95; first audio set by the first sentence, not the answer.
Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import load_settings  # noqa: E402
from devtools.fakes.engines import (  # noqa: E402
    KOKORO_RATE,
    PiperKokoroServer,
    WhisperEngineServer,
    load_piper,
    load_whisper,
    piper_sentences,
)
from devtools.fakes.llm_server import FakeLLMServer, Reply  # noqa: E402
from devtools.testenv import bot_test_env  # noqa: E402
from services.chat.context import ContextBuilder  # noqa: E402
from services.llm import Message, build_router  # noqa: E402
from services.speech import AudioClip, build_speech  # noqa: E402
from services.speech.audio import convert, to_discord  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.sqlite.conversations import SqliteConversationStore  # noqa: E402
from services.storage.sqlite.health import SqliteHealthStore  # noqa: E402
from services.storage.sqlite.usage import SqliteUsageStore  # noqa: E402
from services.voice import (  # noqa: E402
    EndpointConfig,
    Endpointer,
    GuildVoiceSettings,
    PcmQueue,
    Speaker,
    Utterance,
    VoiceConversation,
)
from services.voice.endpoint import FRAME_BYTES  # noqa: E402

QUESTION = "What is the capital of France?"
ANSWER = ("Paris is the capital of France. It sits on the river Seine in the north of the country. "
          "It is known for the Eiffel Tower, the Louvre and its cafes.")
WHISPER_MODEL = "Systran/faster-whisper-tiny.en"
SETTINGS = GuildVoiceSettings(voice="af_heart", speed=1.0, rvc=False, listen=True)


class Player:
    """discord.py's player in miniature: a thread reading 20 ms frames on a 20 ms clock."""

    def __init__(self, queue: PcmQueue) -> None:
        self.queue = queue
        self._thread: threading.Thread | None = None

    async def post(self, text: str) -> None:
        return None  # nothing posted, so nothing to link

    def start_playback(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        next_at = time.perf_counter()
        while self.queue.read():
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.perf_counter()))


def utterance_frames(voice: Any) -> list[bytes]:
    speech = b"".join(piper_sentences(voice, QUESTION))
    stereo = convert(AudioClip(speech, KOKORO_RATE, 1), 48_000, 2).pcm
    stereo += bytes(-len(stereo) % FRAME_BYTES)
    return [stereo[i:i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)] + [bytes(FRAME_BYTES)] * 100


def endpoint(frames: list[bytes], silence_ms: int) -> Utterance:
    """Feed the member's frames on a simulated 20 ms clock, polling as the cog does between packets."""
    endpointer = Endpointer(EndpointConfig(silence_ms=silence_ms))
    for index, frame in enumerate(frames):
        _, done = endpointer.feed(frame, index * 0.02)
        if done is not None:
            return done
    raise RuntimeError("the utterance never ended")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"  {name:<22} p50 {pct(ms, .5):7.1f} ms   p95 {pct(ms, .95):7.1f} ms   p99 {pct(ms, .99):7.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--silence-ms", type=int, default=600)
    parser.add_argument("--model-ttft", type=float, default=0.3)
    parser.add_argument("--token-delay", type=float, default=0.04)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    print("Loading Piper and Whisper ...", flush=True)
    piper, whisper_model = load_piper(), load_whisper()
    frames = utterance_frames(piper)
    tmp = Path(tempfile.mkdtemp())
    db = await Database.open(tmp / "bench.db")
    llm_server = FakeLLMServer()
    await llm_server.start()
    llm_server.default = Reply(text=ANSWER, first_token_delay=args.model_ttft, token_delay=args.token_delay)
    async with PiperKokoroServer(piper) as kokoro, WhisperEngineServer(whisper_model, model_name=WHISPER_MODEL) as stt, \
            aiohttp.ClientSession() as session:
        env = {**bot_test_env(tmp / "bench.db"), "OLLAMA_HOST": llm_server.url, "OLLAMA_MODEL": "llama3.2:latest",
               "KOKORO_API_URL": kokoro.url, "WHISPER_API_URL": stt.url, "WHISPER_MODEL": WHISPER_MODEL,
               "LLM_TOTAL_TIMEOUT": "60"}
        settings = load_settings(env, require_token=False)
        router = build_router(settings, session, health=SqliteHealthStore(db), usage=SqliteUsageStore(db))
        speech = build_speech(settings, session, None)
        assert speech.tts is not None and speech.stt is not None
        context = ContextBuilder(SqliteConversationStore(db), "Be brief.", 3000)
        parts: dict[str, list[float]] = {k: [] for k in ("endpointing", "STT", "LLM 1st sentence",
                                                          "TTS 1st sentence", "overhead", "total (streamed)",
                                                          "total (sequential)")}
        for run in range(args.runs + 1):  # the first run warms the engines and is not counted
            utterance = endpoint(frames, args.silence_ms)
            endpointing = utterance.ended_at - utterance.speech_end_at

            queue = PcmQueue(asyncio.get_running_loop())
            player = Player(queue)
            conversation = VoiceConversation(llm=router, tts=speech.tts, stt=speech.stt, rvc=None, context=context,
                                             queue=queue, output=player)
            t0 = time.perf_counter()
            result = await conversation.hear(utterance, Speaker(1, "alice"), 1000 + run, SETTINGS)
            t = result.timings
            assert result.status == "complete" and t.first_audio is not None, result
            assert None not in (t.transcribed, t.llm_started, t.first_sentence, t.tts_started, t.first_pcm)
            stt_s = t.transcribed - t0  # type: ignore[operator]
            llm_s = t.first_sentence - t.llm_started  # type: ignore[operator]
            tts_s = t.first_pcm - t.tts_started  # type: ignore[operator]
            total = endpointing + (t.first_audio - t0)

            # The sequential way, same turn: whole answer, whole clip, then play.
            queue2 = PcmQueue(asyncio.get_running_loop())
            player2 = Player(queue2)
            s0 = time.perf_counter()
            transcript = await speech.stt.transcribe(AudioClip(utterance.pcm, 48_000, 2))
            answer = await router.chat([Message("system", "Be brief."), Message("user", transcript.text, "alice")],
                                       use_cache=False)
            clip = await speech.tts.synthesize(answer.text, voice=SETTINGS.voice, speed=SETTINGS.speed)
            queue2.push(to_discord(clip))
            player2.start_playback()
            await queue2.wait_audio()
            sequential = endpointing + (queue2.first_frame_at - s0)  # type: ignore[operator]
            queue2.clear()
            await queue.wait_idle()
            if run == 0:
                continue
            parts["endpointing"].append(endpointing)
            parts["STT"].append(stt_s)
            parts["LLM 1st sentence"].append(llm_s)
            parts["TTS 1st sentence"].append(tts_s)
            parts["overhead"].append(total - endpointing - stt_s - llm_s - tts_s)
            parts["total (streamed)"].append(total)
            parts["total (sequential)"].append(sequential)
            print(f"run {run:2d}: streamed {total * 1000:6.0f} ms, sequential {sequential * 1000:6.0f} ms", flush=True)
    await llm_server.close()
    await db.close()

    print(f"\nEnd of speech -> first packet of the answer ({args.runs} turns, silence {args.silence_ms} ms, "
          f"model TTFT {args.model_ttft * 1000:.0f} ms, {args.token_delay * 1000:.0f} ms/word):")
    for name, values in parts.items():
        print(line(name, values))
    streamed, sequential = parts["total (streamed)"], parts["total (sequential)"]
    print(f"\n  sequential / streamed at p50: {statistics.median(sequential) / statistics.median(streamed):.2f}x")
    over = pct(parts["overhead"], .95) * 1000
    print(f"  bot overhead p95 {over:.1f} ms: {'OK' if over < 50 else 'ABOVE'} the 50 ms goal")


if __name__ == "__main__":
    asyncio.run(main())
