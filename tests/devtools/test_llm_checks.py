"""The fake model server refuses what the real servers refuse, with their wording."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image


def png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


CALL = {"id": "call_1", "type": "function", "function": {"name": "web_search", "arguments": '{"query":"x"}'}}


@pytest.mark.parametrize("messages, expected", [
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}],
     "expected a data:image"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"}}]}],
     "unknown format"),
    ([{"role": "assistant", "content": None,
       "tool_calls": [{**CALL, "function": {"name": "web_search", "arguments": {"query": "x"}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "r"}], "expected a string, but got an object"),
    ([{"role": "tool", "tool_call_id": "call_9", "content": "r"}], "must be a response to a preceeding message"),
    ([{"role": "assistant", "content": None, "tool_calls": [CALL]}, {"role": "user", "content": "hi"}],
     "did not have response messages: call_1"),
    ([{"role": "robot", "content": "hi"}], "Invalid value for 'messages[0].role'"),
])
async def test_openai_dialect_refuses_malformed_requests(session, llm, messages, expected):
    async with session.post(f"{llm.openai_url}/chat/completions",
                            json={"model": "gpt-4o-mini", "messages": messages, "stream": True}) as response:
        assert response.status == 400
        assert expected in (await response.json())["error"]["message"]


async def test_openai_dialect_accepts_a_well_formed_tool_round_and_image(session, llm):
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                             {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png()}"}}]},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "r"}]
    async with session.post(f"{llm.openai_url}/chat/completions",
                            json={"model": "gpt-4o-mini", "messages": messages, "stream": False}) as response:
        assert response.status == 200


@pytest.mark.parametrize("body, expected", [
    ({"model": "llama3.2", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
     "cannot unmarshal list into Go struct field Message.messages.content"),
    ({"model": "llava", "messages": [{"role": "user", "content": "hi", "images": ["%%%"]}]}, "illegal base64"),
    ({"model": "llama3.2", "messages": [{"role": "assistant", "content": "",
                                         "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]},
     "api.ToolCallFunctionArguments"),
    ({"model": "llava", "messages": [{"role": "user", "content": "hi"}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "does not support tools"),
    ({"model": "llama3.2", "messages": [{"role": "user", "content": "hi", "images": [png()]}]},
     "does not support images"),
    ({"model": "llama3.2", "messages": [], "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
     "must match"),
])
async def test_ollama_dialect_refuses_malformed_requests(session, llm, body, expected):
    async with session.post(f"{llm.url}/api/chat", json=body) as response:
        assert response.status == 400
        assert expected in (await response.json())["error"]


async def test_ollama_show_reports_capabilities_and_404s_unknown_models(session, llm):
    async with session.post(f"{llm.url}/api/show", json={"model": "llava:latest"}) as response:
        assert (await response.json())["capabilities"] == ["completion", "vision"]
    async with session.post(f"{llm.url}/api/show", json={"model": "nope"}) as response:
        assert response.status == 404 and "not found" in (await response.json())["error"]
