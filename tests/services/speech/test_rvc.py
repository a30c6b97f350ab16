"""RVC clients: rvc-python's API server and the WebUI adapter, against local fakes of both."""

from __future__ import annotations

import asyncio
import os

import pytest

from devtools.fakes.rvc_servers import FakeRvcPython, FakeRvcWebUI
from devtools.fakes.speech_servers import Fault, tone
from services.errors import PermanentError
from services.speech.audio import AudioClip
from services.speech.rvc_python import RvcPythonConverter
from services.speech.rvc_webui import RvcWebUIConverter


def kokoro_clip(seconds: float = 0.5) -> AudioClip:
    return AudioClip(tone(seconds), 24_000, 1)


# --- rvc-python ----------------------------------------------------------------------------------

async def test_convert_loads_the_model_and_params_once(session, make_guard, health):
    async with FakeRvcPython() as fake:
        rvc = RvcPythonConverter(session, fake.url, model="bob", params={"f0up_key": 4}, api_key="k3y",
                                 guard=make_guard("rvc"))
        first = await rvc.convert(kokoro_clip(0.5))
        second = await rvc.convert(kokoro_clip(0.25))
    assert (first.sample_rate, first.channels) == (40_000, 1)
    assert first.duration == pytest.approx(0.5) and second.duration == pytest.approx(0.25)
    assert fake.loaded == "bob" and fake.params["f0up_key"] == 4
    assert (fake.count("load"), fake.count("set_params"), fake.count("convert")) == (1, 1, 2)
    assert fake.received == [(24_000, 1), (24_000, 1)]
    assert all(r.headers.get("Authorization") == "Bearer k3y" for r in fake.requests)
    assert (await health.get("rvc")).status == "healthy"


async def test_calls_are_serialised(session):
    async with FakeRvcPython(convert_delay=0.05) as fake:
        rvc = RvcPythonConverter(session, fake.url, model="alice")
        results = await asyncio.gather(*(rvc.convert(kokoro_clip(0.1)) for _ in range(4)))
    assert len(results) == 4
    assert fake.max_active == 1
    assert fake.count("load") == 1


async def test_a_missing_model_is_permanent_and_names_the_choices(session, make_guard):
    async with FakeRvcPython(("alice",)) as fake:
        rvc = RvcPythonConverter(session, fake.url, model="zelda", guard=make_guard("rvc"))
        with pytest.raises(PermanentError, match=r"'zelda' is not on the server \(it has: alice\)"):
            await rvc.convert(kokoro_clip())
        assert fake.count("convert") == 0


async def test_a_restarted_server_gets_the_model_again(session, make_guard, sleeps):
    async with FakeRvcPython() as fake:
        rvc = RvcPythonConverter(session, fake.url, model="alice", guard=make_guard("rvc"))
        await rvc.convert(kokoro_clip())
        fake.loaded = None  # the server restarted with no model
        clip = await rvc.convert(kokoro_clip())
    assert clip.sample_rate == 40_000
    assert fake.count("load") == 2 and len(sleeps.delays) == 1


async def test_float_wav_output_is_decoded(session):
    async with FakeRvcPython(float_output=True, output_rate=48_000) as fake:
        clip = await RvcPythonConverter(session, fake.url, model="alice").convert(kokoro_clip(0.2))
    assert (clip.sample_rate, clip.duration) == (48_000, pytest.approx(0.2))
    assert max(abs(s) for s in clip.samples()[:, 0]) > 8000  # the tone survived, not silence


async def test_empty_clip_is_refused_locally(session):
    async with FakeRvcPython() as fake:
        with pytest.raises(PermanentError, match="empty"):
            await RvcPythonConverter(session, fake.url).convert(AudioClip(b"", 24_000, 1))
        assert fake.requests == []


async def test_rvc_python_probe(session):
    async with FakeRvcPython(("alice", "bob")) as fake:
        assert (await RvcPythonConverter(session, fake.url, model="bob").probe()).detail == "2 models"
        degraded = await RvcPythonConverter(session, fake.url, model="carol").probe()
        assert degraded.status == "degraded"
        assert await RvcPythonConverter(session, fake.url).models() == ["alice", "bob"]


# --- RVC WebUI (Gradio 3) ------------------------------------------------------------------------

async def test_webui_loads_the_model_uploads_converts_and_downloads(session, make_guard):
    async with FakeRvcWebUI() as fake:
        rvc = RvcWebUIConverter(session, fake.url, model="alice", transpose=2, guard=make_guard("rvc"))
        clip = await rvc.convert(kokoro_clip(0.5))
        await rvc.convert(kokoro_clip(0.5))
    assert (clip.sample_rate, clip.duration) == (40_000, pytest.approx(0.5))
    assert fake.loaded == "alice.pth"  # "alice" resolved to the model file
    assert fake.count("infer_change_voice") == 1
    inputs = fake.convert_inputs[0]
    assert inputs[0] == 0 and inputs[1].startswith("/tmp/gradio/") and inputs[2] == 2
    assert inputs[6] == "logs/alice/added_IVF.index"  # the index the model change reported
    assert len(inputs) == 12


async def test_webui_without_upload_route_passes_a_local_file_and_removes_it(session):
    async with FakeRvcWebUI(upload=False) as fake:
        clip = await RvcWebUIConverter(session, fake.url, model="bob.pth").convert(kokoro_clip(0.2))
    path = fake.convert_inputs[0][1]
    assert clip.duration == pytest.approx(0.2)
    assert not path.startswith("/tmp/gradio/") and not await asyncio.to_thread(os.path.exists, path)


async def test_webui_failure_without_audio_reloads_the_model_next_time(session, make_guard):
    async with FakeRvcWebUI() as fake:
        rvc = RvcWebUIConverter(session, fake.url, model="alice", guard=make_guard("rvc"))
        await rvc.convert(kokoro_clip())
        fake.loaded = None  # WebUI restarted
        with pytest.raises(PermanentError, match="net_g is None"):
            await rvc.convert(kokoro_clip())
        assert (await rvc.convert(kokoro_clip())).sample_rate == 40_000
        assert fake.count("infer_change_voice") == 2


async def test_webui_gradio_errors_are_retried(session, make_guard, sleeps):
    async with FakeRvcWebUI() as fake:
        fake.script("infer_convert", Fault(500, {"error": None}))
        rvc = RvcWebUIConverter(session, fake.url, model="alice", guard=make_guard("rvc"))
        assert (await rvc.convert(kokoro_clip())).sample_rate == 40_000
        assert fake.count("infer_convert") == 2 and len(sleeps.delays) == 1


async def test_webui_unknown_model_and_probe(session):
    async with FakeRvcWebUI() as fake:
        rvc = RvcWebUIConverter(session, fake.url, model="nobody")
        with pytest.raises(PermanentError, match=r"alice\.pth, bob\.pth"):
            await rvc.convert(kokoro_clip())
        assert await rvc.models() == ["alice.pth", "bob.pth"]
        assert (await rvc.probe()).status == "healthy"
    async with FakeRvcWebUI(endpoints=("infer_convert",)) as fork:
        result = await RvcWebUIConverter(session, fork.url, model="alice").probe()
        assert result.status == "degraded" and "infer_change_voice" in result.detail
