"""Voice turn latency: from the end of a member's speech to the first packet of the answer, and how
often a member is cut off mid-turn, for today's defaults and for the previous behaviour (baseline).

Run: .venv/bin/python bench/voice_latency.py [--runs 12] [--passages 10]

Real engines offline on 127.0.0.1 in this process: Piper behind Kokoro's API (TTS) and
faster-whisper tiny.en behind Whisper's API (STT), from devtools/fakes/engines.py; the model is the
fake Ollama server (devtools/fakes/llm_server.py) writing a three-sentence answer at --token-delay per
word after --model-ttft. The member's question is real speech (Piper), fed in real time, 20 ms a
frame, then five silence frames and no more packets, as a Discord client sends; turn-taking
(services/voice/turns.py) and the conversation run as the cog runs them, and a player thread reads
the PcmQueue every 20 ms as discord.py's does. The end of speech is the last frame with speech in it,
found from the audio (the same moment for every engine). Two ways are measured, turns interleaved:
  baseline = the previous behaviour: WebRTC VAD, the turn ends after 600 ms of silence, then STT;
             the first spoken piece is the first sentence; no connection warming
  new      = the defaults: Silero VAD, speculative STT at a 200 ms pause, commit on a finished-
             sounding transcript or 600 ms of silence; the first piece may be a clause; warming
Per turn:
  decided      = turn committed - end of speech
  STT          = transcript in hand - turn committed (about 0 when speculation already has it)
  LLM 1st piece = first piece cut from the stream - request sent
  TTS 1st piece = first PCM of the first piece queued - its TTS request sent
  overhead     = the rest of (first audio frame read - end of speech): the bot's own work
False cut-offs: multi-sentence passages (bench/voice_speech.py) spoken with pauses between clauses
and sentences; a turn committed before the passage ended is a cut-off. The VAD cost per 20 ms frame
is measured too (the latency budget on 2 cores). Not run by CI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.voice_speech import PASSAGES, SpokenTurn, passage_turn, single_turn  # noqa: E402
from config.settings import load_settings  # noqa: E402
from devtools.fakes.engines import PiperKokoroServer, WhisperEngineServer, load_piper, load_whisper  # noqa: E402
from devtools.fakes.llm_server import FakeLLMServer, Reply  # noqa: E402
from devtools.testenv import bot_test_env  # noqa: E402
from services.chat.attachments import AttachmentReader  # noqa: E402
from services.chat.context import ContextBuilder  # noqa: E402
from services.chat.turn import ChatTurns  # noqa: E402
from services.llm import build_router  # noqa: E402
from services.llm.capabilities import ModelCapabilities  # noqa: E402
from services.llm.factory import build_chain  # noqa: E402
from services.reminders import ReminderService  # noqa: E402
from services.search import build_search  # noqa: E402
from services.speech import build_speech  # noqa: E402
from services.storage import Database  # noqa: E402
from services.storage.backend import SqliteBackend  # noqa: E402
from services.tools import ToolLoop, build_tools  # noqa: E402
from services.voice import EndpointConfig, GuildVoiceSettings, PcmQueue, Speaker, VoiceConversation  # noqa: E402
from services.voice.turns import HeardTurn, TurnTaker  # noqa: E402
from services.voice.vad import make_vad  # noqa: E402
from services.web import PageFetcher  # noqa: E402

QUESTION = "What is the capital of France?"
ANSWER = ("Paris is the capital of France. It sits on the river Seine in the north of the country. "
          "It is known for the Eiffel Tower, the Louvre and its cafes.")
WHISPER_MODEL = "Systran/faster-whisper-tiny.en"
SETTINGS = GuildVoiceSettings(voice="af_heart", speed=1.0, rvc=False, listen=True)


@dataclass(frozen=True)
class Way:
    name: str
    endpoint: EndpointConfig
    first_clause_words: int
    warm: bool


BASELINE = Way("baseline", EndpointConfig(vad="webrtc", silence_ms=600), 0, False)
NEW = Way("new", EndpointConfig(vad="silero", silence_ms=600, candidate_ms=200), 4, True)


class Player:
    """discord.py's player in miniature: a thread reading 20 ms frames on a 20 ms clock."""

    def __init__(self, queue: PcmQueue) -> None:
        self.queue = queue
        self._thread: threading.Thread | None = None

    async def post(self, text: str) -> None:
        return None  # nothing posted, so nothing to link

    def channel_ids(self) -> tuple[int, ...]:
        return (1,)

    def may_post(self, user_id: int) -> bool:
        return True

    def confirmation(self, effect: object) -> str | None:
        return None

    def start_playback(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        next_at = time.perf_counter()
        while self.queue.read():
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.perf_counter()))


async def listen(way: Way, turn: SpokenTurn, conversation: VoiceConversation | None,
                 until_committed: bool) -> tuple[list[tuple[float, HeardTurn]], float, TurnTaker]:
    """Feed the turn in real time; poll every 20 ms until one turn is committed (or, for cut-off
    counting, until the passage's audio and a full silence after it are over). Returns the committed
    turns with their commit times, the moment speech ended, and the turn-taker (for its stats)."""
    committed: list[tuple[float, HeardTurn]] = []
    taker = TurnTaker(way.endpoint, on_turn=lambda t: committed.append((time.perf_counter(), t)),
                      transcribe=conversation.transcribe if conversation and way.endpoint.candidate_ms else None)
    start = time.perf_counter()
    speech_end = 0.0
    index = 0
    while True:
        tick = start + index * 0.02
        await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        now = time.perf_counter()
        if index < len(turn.frames):
            if taker.feed(1, turn.frames[index], now) and way.warm and conversation is not None:
                conversation.warm()
            if index == turn.speech_end:
                speech_end = now
        taker.poll(now)
        index += 1
        if until_committed and committed:
            break
        if not until_committed and index > len(turn.frames) + 60:  # well past the full silence
            break
        if index > len(turn.frames) + 500:
            raise RuntimeError(f"{way.name}: the turn never ended")
    return committed, speech_end, taker


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"  {name:<22} p50 {pct(ms, .5):7.1f} ms   p95 {pct(ms, .95):7.1f} ms   p99 {pct(ms, .99):7.1f} ms"


def vad_cost(turn: SpokenTurn) -> dict[str, float]:
    """CPU per 20 ms frame of each engine (one speaker), over real speech and its pauses."""
    cost = {}
    for engine in ("webrtc", "silero"):
        vad = make_vad(engine)
        frames = turn.frames * 5
        started = time.perf_counter()
        for frame in frames:
            vad.is_voiced(frame)
        cost[engine] = (time.perf_counter() - started) / len(frames)
    return cost


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--passages", type=int, default=len(PASSAGES))
    parser.add_argument("--model-ttft", type=float, default=0.3)
    parser.add_argument("--token-delay", type=float, default=0.04)
    parser.add_argument("--answer", default=ANSWER, help="the model's answer (the first piece decides a lot)")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    print("Loading Piper and Whisper ...", flush=True)
    piper, whisper_model = load_piper(), load_whisper()
    rng = random.Random(args.seed)
    question = single_turn(piper, QUESTION)
    passages = [passage_turn(piper, text, rng) for text in PASSAGES[:args.passages]]
    tmp = Path(tempfile.mkdtemp())
    db = await Database.open(tmp / "bench.db")
    llm_server = FakeLLMServer()
    await llm_server.start()
    llm_server.default = Reply(text=args.answer, first_token_delay=args.model_ttft, token_delay=args.token_delay)
    names = ("decided", "STT", "LLM 1st piece", "TTS 1st piece", "overhead", "total")
    parts: dict[str, dict[str, list[float]]] = {w.name: {k: [] for k in names} for w in (BASELINE, NEW)}
    speculation = {"speculations": 0, "discarded": 0, "early": 0}
    async with PiperKokoroServer(piper) as kokoro, WhisperEngineServer(whisper_model, model_name=WHISPER_MODEL) as stt, \
            aiohttp.ClientSession() as session:
        env = {**bot_test_env(tmp / "bench.db"), "OLLAMA_HOST": llm_server.url, "OLLAMA_MODEL": "llama3.2:latest",
               "KOKORO_API_URL": kokoro.url, "WHISPER_API_URL": stt.url, "WHISPER_MODEL": WHISPER_MODEL,
               "LLM_TOTAL_TIMEOUT": "60"}
        settings = load_settings(env, require_token=False)
        backend = SqliteBackend(db)
        router = build_router(settings, session, health=backend.health(), usage=backend.usage())
        speech = build_speech(settings, session, None)
        context = ContextBuilder(backend.conversations(), "Be brief.", 3000)
        search = build_search(settings, session, backend.cache(), backend.health())
        fetcher = PageFetcher(timeout=3)
        tools = build_tools(search=search, reminders=ReminderService(backend.reminders()), fetcher=fetcher)
        # The voice turn as the bot runs it: a chat turn (persona, model chain, tools offered, memory).
        turns = ChatTurns(context=context, voice_context=context.for_voice(), loop=ToolLoop(router, tools),
                          attachments=AttachmentReader(session), capabilities=ModelCapabilities(router.providers),
                          profiles=backend.chat_profiles(default_persona="Be brief.", default_chain=build_chain(settings),
                                                    providers=list(router.providers)))

        def conversation(way: Way) -> tuple[VoiceConversation, PcmQueue]:
            queue = PcmQueue(asyncio.get_running_loop())
            return VoiceConversation(turns=turns, tts=speech.tts, stt=speech.stt, rvc=None, queue=queue,
                                     output=Player(queue), first_clause_words=way.first_clause_words), queue

        for run in range(args.runs + 1):  # the first run warms the engines and is not counted
            for way in (BASELINE, NEW) if run % 2 else (NEW, BASELINE):
                talk, queue = conversation(way)
                [(committed_at, heard)], speech_end, taker = await listen(way, question, talk, until_committed=True)
                result = await talk.hear(heard.utterance, Speaker(1, "alice"), 1000 + run, SETTINGS,
                                         transcript=heard.transcript)
                await queue.wait_idle()
                t = result.timings
                assert result.status == "complete" and t.first_audio is not None, result
                assert None not in (t.transcribed, t.llm_started, t.first_sentence, t.tts_started, t.first_pcm)
                if run == 0:
                    continue
                for key in speculation:
                    speculation[key] += getattr(taker.stats, key)
                p = parts[way.name]
                p["decided"].append(committed_at - speech_end)
                p["STT"].append(t.transcribed - committed_at)  # type: ignore[operator]
                p["LLM 1st piece"].append(t.first_sentence - t.llm_started)  # type: ignore[operator]
                p["TTS 1st piece"].append(t.first_pcm - t.tts_started)  # type: ignore[operator]
                p["total"].append(t.first_audio - speech_end)
                p["overhead"].append(p["total"][-1] - sum(p[k][-1] for k in names[:4]))
            print(f"run {run:2d}: baseline {parts['baseline']['total'][-1] * 1000 if run else 0:6.0f} ms, "
                  f"new {parts['new']['total'][-1] * 1000 if run else 0:6.0f} ms", flush=True)

        cutoffs: dict[str, int] = {}
        pauses = sum(p.pauses for p in passages)
        for way in (BASELINE, NEW):
            talk, _ = conversation(way)
            cutoffs[way.name] = 0
            for passage in passages:
                committed, _, _ = await listen(way, passage, talk, until_committed=False)
                cutoffs[way.name] += max(0, len(committed) - 1)
            print(f"{way.name}: {cutoffs[way.name]} false cut-off(s) in {len(passages)} passages", flush=True)
        await fetcher.close()
        await search.close()
    await llm_server.close()
    await db.close()
    report(args, parts, cutoffs, len(passages), pauses, speculation, vad_cost(question))


def report(args: Any, parts: dict[str, dict[str, list[float]]], cutoffs: dict[str, int], passages: int,
           pauses: int, speculation: dict[str, int], cost: dict[str, float]) -> None:
    print(f"\nEnd of speech -> first packet of the answer ({args.runs} turns each, model TTFT "
          f"{args.model_ttft * 1000:.0f} ms, {args.token_delay * 1000:.0f} ms/word):")
    for way in (BASELINE, NEW):
        print(f" {way.name}:")
        for name, values in parts[way.name].items():
            print(line(name, values))
        if way is NEW:
            print(line("total (streamed)", values))
    base, new = parts["baseline"]["total"], parts["new"]["total"]
    print(f"\n  new / baseline: p50 {pct(new, .5) / pct(base, .5):.2f}x, p95 {pct(new, .95) / pct(base, .95):.2f}x")
    print(f"  goal p50 < 1000 ms: {'MET' if pct(new, .5) < 1.0 else 'NOT MET'} ({pct(new, .5) * 1000:.0f} ms); "
          f"p95 < 1200 ms: {'MET' if pct(new, .95) < 1.2 else 'NOT MET'} ({pct(new, .95) * 1000:.0f} ms)")
    for way in (BASELINE, NEW):
        rate = cutoffs[way.name] / passages
        print(f"  false cut-offs, {way.name:<8}: {cutoffs[way.name]} in {passages} passages ({rate:.0%} of turns, "
              f"{cutoffs[way.name] / max(1, pauses):.0%} of {pauses} pauses)")
    runs = max(1, args.runs)
    print(f"  speculation per turn (new): {speculation['speculations'] / runs:.1f} transcriptions, "
          f"{speculation['discarded'] / runs:.1f} discarded, {speculation['early'] / runs:.0%} committed early")
    print(f"  VAD CPU per 20 ms frame and speaker: webrtc {cost['webrtc'] * 1e6:.0f} us, "
          f"silero {cost['silero'] * 1e6:.0f} us ({cost['silero'] / 0.02:.1%} of one core per speaker talking)")


if __name__ == "__main__":
    asyncio.run(main())
